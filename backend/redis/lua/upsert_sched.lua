-- upsert_sched.lua: writes a scheduler record if its revision is the
-- expected one, and in the same step replaces its pending iteration job.
--
--- @include transitions, flows, schedulers
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] expected revision ("any" to skip the check; "0": must not exist);
--   [7] "1" to keep the pending iteration; [8] the scheduler record (its
--   revision, iterations and update time are set here).
-- Returns: {created (1 or 0), record as stored}. Error ERR_REVISION. A
--   resend gets the reply of the first run, kept whole.

local kept = replayed()
if kept then
  local k = dec(kept)
  return done({tonumber(k[1]), k[2] or ""})
end
local Q = keyset(1, ARGV[5])
local expect, keep = ARGV[6], ARGV[7] == "1"
local s = dec(ARGV[8])
local raw = redis.call("HGET", Q.s, s[S.ID])
local old
if raw then
  old = dec(raw)
end
if expect ~= "any" then
  local have = "0"
  if old then have = istr(num(old[S.REVISION])) end
  if have == "" then have = "0" end
  if have ~= expect then
    return redis.error_reply(ERR_REVISION .. " scheduler " .. s[S.ID] .. " has revision " .. have .. ", not " .. expect)
  end
end
s[S.REVISION], s[S.ITERATIONS] = 1, 0
if old then
  s[S.REVISION] = num(old[S.REVISION]) + 1
  s[S.ITERATIONS] = num(old[S.ITERATIONS])
end
s[S.UPDATED] = NOW

local pid, pc, ph
if old then
  pid, pc, ph = pending_iteration(Q, old)
end
if keep and pid then
  -- The pending iteration stays; the plan is the caller's refill.
  s[S.NEXT] = old[S.NEXT]
else
  if pid then
    unset(Q, pid, pc, ph)
    remove_job(Q, pid, pc, ph)
    -- An iteration replaced before it ran is not counted twice.
    s[S.ITERATIONS] = math.max(num(s[S.ITERATIONS]) - 1, 0)
  end
  s = place_iteration(Q, s)
end
emit(Q, {type = "scheduler-upserted", scheduler = s[S.ID]})
save_scheduler(Q, s)
trim_events(Q)
local created = 1
if old then created = 0 end
local rec = enc(s, S.N)
return done({created, rec}, enclist({tostring(created), rec}))
