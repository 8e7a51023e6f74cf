-- pause.lua: pauses or resumes a queue.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] "1" to pause, "0" to resume.
-- Returns: 1. A resend changes nothing and gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
if ARGV[6] == "1" then
  redis.call("HSET", Q.meta, "paused", "1")
  redis.call("DEL", Q.wake)
  emit(Q, "paused", nil, nil, nil, nil, nil, nil, nil, nil, nil)
else
  redis.call("HDEL", Q.meta, "paused")
  emit(Q, "resumed", nil, nil, nil, nil, nil, nil, nil, nil, nil)
  wake(Q, redis.call("ZCARD", Q.w))
end
trim_events(Q)
return done(1, "")
