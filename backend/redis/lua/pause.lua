-- pause.lua: pauses or resumes a queue.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] "1" to
--   pause, "0" to resume.
-- Returns: 1.

local Q = keyset(1, ARGV[4])
if ARGV[5] == "1" then
  redis.call("HSET", Q.meta, "paused", "1")
  redis.call("DEL", Q.wake)
  emit(Q, "paused", nil, nil, nil, nil, nil, nil, nil, nil, nil)
else
  redis.call("HDEL", Q.meta, "paused")
  emit(Q, "resumed", nil, nil, nil, nil, nil, nil, nil, nil, nil)
  wake(Q, redis.call("ZCARD", Q.w))
end
trim_events(Q)
return done(1)
