-- remove_sched.lua: removes a scheduler record and its pending iteration.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] id.
-- Returns: 1. Error "DROVER_NOTFOUND". A resend gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
local raw = redis.call("HGET", Q.s, ARGV[6])
if not raw then
  return redis.error_reply("DROVER_NOTFOUND scheduler " .. ARGV[6] .. " in " .. Q.name)
end
local s = dec(raw)
local pid, pr = pending_iteration(Q, s)
if pid then
  unset(Q, pid)
  deljob(Q, pid, pr)
  emitjob(Q, "removed", pid, pr)
end
redis.call("HDEL", Q.s, ARGV[6])
emit(Q, "scheduler-removed", nil, nil, nil, nil, nil, nil, nil, ARGV[6], nil)
trim_events(Q)
return done(1, "")
