-- obliterate.lua: removes a queue and everything in it.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] "1" to force removal while jobs are active.
-- Returns: 1. Error "DROVER_ACTIVE" if jobs are active and not forced. A
--   resend changes nothing (not even jobs added since) and gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
if ARGV[6] ~= "1" and redis.call("ZCARD", Q.a) > 0 then
  return redis.error_reply("DROVER_ACTIVE queue " .. Q.name .. " has active jobs")
end
for i = 1, NK do
  redis.call("DEL", KEYS[i])
end
return done(1, "")
