-- addlog.lua: appends a log line to a job.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job id; [7] line.
-- Returns: the new line count. Error "DROVER_NOTFOUND". A resend gets the
--   count of the first run, kept.

local kept = replayed()
if kept then
  return done(tonumber(kept))
end
local Q = keyset(1, ARGV[5])
local id = ARGV[6]
local r = getjob(Q, id)
if not r then
  return redis.error_reply("DROVER_NOTFOUND job " .. id .. " in " .. Q.name)
end
local n = num(r[F_LOGS]) + 1
r[F_LOGS] = n
putjob(Q, id, r)
redis.call("HSET", Q.logs, id .. "\n" .. n, ARGV[7])
return done(n, istr(n))
