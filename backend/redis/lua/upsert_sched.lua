-- upsert_sched.lua: writes a scheduler record if its revision is the
-- expected one, and in the same step replaces its pending iteration job.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] expected revision ("any" to skip the check; "0": must not exist);
--   [7] "1" to keep the pending iteration; [8] the scheduler record (see
--   lib.lua; revision, iterations and update time are set here).
-- Returns: {created (1 or 0), record as stored}. Error "DROVER_REVISION".
--   A resend gets the reply of the first run, kept whole.

local kept = replayed()
if kept then
  local k = dec(kept)
  return done({tonumber(k[1]), k[2]})
end
local Q = keyset(1, ARGV[5])
local expect, keep = ARGV[6], ARGV[7] == "1"
local s = dec(ARGV[8])
local raw = redis.call("HGET", Q.s, s[S_ID])
local old
if raw then
  old = dec(raw)
end
if expect ~= "any" then
  local have = "0"
  if old then have = old[S_REV] end
  if have ~= expect then
    return redis.error_reply("DROVER_REVISION scheduler " .. s[S_ID] .. " has revision " .. have .. ", not " .. expect)
  end
end
s[S_REV] = 1
s[S_ITER] = 0
if old then
  s[S_REV] = num(old[S_REV]) + 1
  s[S_ITER] = num(old[S_ITER])
end
s[S_UPDATED] = NOW

local pid, pr
if old then
  pid, pr = pending_iteration(Q, old)
end
if keep and pid then
  -- The pending iteration stays; the plan is the caller's refill.
  s[S_NEXT] = old[S_NEXT]
else
  if pid then
    unset(Q, pid)
    deljob(Q, pid, pr)
    emitjob(Q, "removed", pid, pr)
    -- The replaced iteration does not count against the limit.
    s[S_ITER] = math.max(num(s[S_ITER]) - 1, 0)
  end
  s = iteration(Q, s)
end
if sched_done(s) then
  redis.call("HDEL", Q.s, s[S_ID])
else
  redis.call("HSET", Q.s, s[S_ID], enc(s, NS))
end
emit(Q, "scheduler-upserted", nil, nil, nil, nil, nil, nil, nil, s[S_ID], nil)
trim_events(Q)
local created = 1
if old then created = 0 end
local rec = enc(s, NS)
return done({created, rec}, enc({created, rec}, 2))
