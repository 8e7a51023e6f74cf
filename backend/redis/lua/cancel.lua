-- cancel.lua: cancels a job. A waiting, delayed or waiting-children job
-- fails at once as cancelled (its flow parent is told, as of any
-- failure); an active one is marked, for Renew to report to its worker.
-- Either way one cancelled event.
--
--- @include transitions, flows, schedulers
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job ID; [7] reason.
-- Returns: 1 if the job was active (marked), else 0. Errors ERR_NOTFOUND,
--   ERR_WRONGSTATE (a job that has finished). A resend gets the reply of
--   the first run, kept.

local kept = replayed()
if kept then
  return done(tonumber(kept))
end
local Q = keyset(1, ARGV[5])
local id, reason = ARGV[6], ARGV[7]
local c, h, err = job_in(Q, id, "waiting,delayed,waiting-children,active", ST_WAITING, ST_DELAYED, ST_WAITING_CHILDREN, ST_ACTIVE)
if err then
  return err
end
local st = state_of(h)
if st == ST_ACTIVE then
  if h[H_CANCEL] == "1" then
    -- Marked already: nothing changes, and nothing is kept.
    return done(1)
  end
  h[H_CANCEL], h[H_CANCEL_REASON] = "1", reason
  puthot(Q, id, h)
  job_event(Q, "cancelled", id, c, h, {reason = cancelled(h)})
  trim_events(Q)
  return done(1, "1")
end
-- A scheduler's pending iteration makes way for the next one, as a lease
-- of it does.
local sid = c[J_SCHEDULER]
local pending = is_pending_iteration(Q, id, c, h)
unset(Q, id, c, h)
h[H_CANCEL], h[H_CANCEL_REASON] = "1", reason
finish(Q, id, c, h, ST_FAILED, nil, cancelled(h), nil, "cancelled")
if pending then
  next_iteration(Q, sid, id)
end
trim_events(Q)
return done(0, "0")
