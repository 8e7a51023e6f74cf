-- set_group_limits.lua: sets the limits of each group of a queue (see
-- groups.lua), with a group-limits-changed event; the queue enters
-- grouped mode. Every group's place in the ring follows the new limits,
-- and the leasers they now let take a job wake.
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
grouped(Q, true)
limits.put(Q, {"gconc", "grate", "gper"}, ARGV[6], ARGV[7], ARGV[8])
if ARGV[7] == "0" then
  -- Without a rate no group keeps its starts.
  redis.call("ZREMRANGEBYLEX", Q.gx, "[s", "(t")
end
local names, cursor = {}, "0"
repeat
  local page = redis.call("HSCAN", Q.g, cursor, "COUNT", 1000)
  cursor = page[1]
  for i = 1, #page[2], 2 do
    names[#names + 1] = page[2][i]
  end
until cursor == "0"
for _, name in ipairs(names) do
  groups.put(Q, name, groups.get(Q, name), false)
end
emit(Q, {type = "group-limits-changed", data = ARGV[9]})
wake(Q, count_ready(Q))
trim_events(Q)
return done(1, "")
