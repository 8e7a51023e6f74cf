-- addlog.lua: appends a log line to a job.
--
--- @include record
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job ID; [7] line.
-- Returns: the new line count. Error ERR_NOTFOUND. A resend gets the count
--   of the first run, kept.

local kept = replayed()
if kept then
  return done(tonumber(kept))
end
local Q = keyset(1, ARGV[5])
local id = ARGV[6]
local c, h = getjob(Q, id)
if not c then
  return redis.error_reply(ERR_NOTFOUND .. " job " .. id .. " in " .. Q.name)
end
local n = num(h[H_LOGS]) + 1
h[H_LOGS] = n
puthot(Q, id, h)
redis.call("HSET", Q.logs, id .. "\n" .. n, ARGV[7])
return done(n, istr(n))
