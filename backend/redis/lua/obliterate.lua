-- obliterate.lua: removes a queue and everything in it.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] "1" to
--   force removal while jobs are active.
-- Returns: 1. Error "DROVER_ACTIVE" if jobs are active and not forced.

local Q = keyset(1, ARGV[4])
if ARGV[5] ~= "1" and redis.call("ZCARD", Q.a) > 0 then
  return redis.error_reply("DROVER_ACTIVE queue " .. Q.name .. " has active jobs")
end
for i = 1, NK do
  redis.call("DEL", KEYS[i])
end
return done(1)
