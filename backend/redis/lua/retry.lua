-- retry.lua: moves failed or completed jobs back to waiting, at the back
-- of their line, with their attempts and stalls reset and their result,
-- failure reason and stack trace cleared; each gets a retried event.
--
--- @include transitions
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job ID, or "" to retry by state; [7] state ("completed" or
--   "failed"); [8] limit.
-- Returns: the IDs retried. Errors ERR_NOTFOUND, ERR_WRONGSTATE (a job
--   named that has not finished). A resend gets the IDs of the first run,
--   kept as a record.

local Q = keyset(1, ARGV[5])
local kept = replayed()
if kept then
  return done(dec(kept))
end
local id, state, limit = ARGV[6], ARGV[7], tonumber(ARGV[8])
local ids
if id ~= "" then
  local _, _, err = job_in(Q, id, "completed,failed", ST_COMPLETED, ST_FAILED)
  if err then
    return err
  end
  ids = {id}
else
  local set = Q.f
  if state == "completed" then
    set = Q.c
  end
  ids = redis.call("ZRANGE", set, 0, limit - 1)
end
local woke = 0
for _, jid in ipairs(ids) do
  local c, h = getjob(Q, jid)
  if c then
    unset(Q, jid, c, h)
    h[H_MADE], h[H_STALLED], h[H_RESULT], h[H_REASON], h[H_STACK], h[H_FINISHED] = "", "", "", "", "", ""
    h[H_CANCEL], h[H_CANCEL_REASON] = "", ""
    if num(h[H_PENDING]) > 0 then
      -- A flow parent that failed while children were pending waits for
      -- them again.
      h[H_STATE] = ST_WAITING_CHILDREN
      redis.call("ZADD", Q.wc, num(c[J_SEQ]) > 0 and num(c[J_SEQ]) or num(jid), jid)
      puthot(Q, jid, h)
      job_event(Q, "retried", jid, c, h)
    else
      woke = woke + announce(Q, jid, c, h, 0, false, "retried")
    end
  end
end
if woke > 0 then
  wake(Q, woke)
end
trim_events(Q)
return done(ids, enclist(ids))
