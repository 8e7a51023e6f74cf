-- set_limits.lua: replaces a queue's limits (see wake.lua), keeping any
-- hold, with a limits-changed event; wakes the leasers they now let take
-- a job.
--
--- @include wake
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] concurrency, [7] rate, [8] rate period ms (0: none), [9] the
--   event's data (the limits, as the Go side encodes them).
-- Returns: 1. A resend changes nothing and gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
limits.put(Q, {"conc", "rate", "per"}, ARGV[6], ARGV[7], ARGV[8])
local rate = tonumber(ARGV[7])
if rate == 0 then
  redis.call("DEL", Q.st)
else
  window.queue(Q, rate, tonumber(ARGV[8])).trim()
end
emit(Q, {type = "limits-changed", data = ARGV[9]})
wake(Q, count_ready(Q))
trim_events(Q)
return done(1, "")
