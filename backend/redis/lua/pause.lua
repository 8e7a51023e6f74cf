-- pause.lua: pauses or resumes a queue.
--
--- @include wake
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
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
  emit(Q, {type = "paused"})
else
  redis.call("HDEL", Q.meta, "paused")
  emit(Q, {type = "resumed"})
  wake(Q, count_ready(Q))
end
trim_events(Q)
return done(1, "")
