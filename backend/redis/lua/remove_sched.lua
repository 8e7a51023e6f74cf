-- remove_sched.lua: removes a scheduler record and its pending iteration.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] id.
-- Returns: 1. Error "DROVER_NOTFOUND".

local Q = keyset(1, ARGV[4])
local raw = redis.call("HGET", Q.s, ARGV[5])
if not raw then
  return redis.error_reply("DROVER_NOTFOUND scheduler " .. ARGV[5] .. " in " .. Q.name)
end
local s = dec(raw)
local pid, pr = pending_iteration(Q, s)
if pid then
  unset(Q, pid)
  deljob(Q, pid, pr)
  emitjob(Q, "removed", pid, pr)
end
redis.call("HDEL", Q.s, ARGV[5])
emit(Q, "scheduler-removed", nil, nil, nil, nil, nil, nil, nil, ARGV[5], nil)
trim_events(Q)
return done(1)
