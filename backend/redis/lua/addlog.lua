-- addlog.lua: appends a log line to a job.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] job id;
--   [6] line.
-- Returns: the new line count. Error "DROVER_NOTFOUND".

local Q = keyset(1, ARGV[4])
local id = ARGV[5]
local r = getjob(Q, id)
if not r then
  return redis.error_reply("DROVER_NOTFOUND job " .. id .. " in " .. Q.name)
end
local n = num(r[F_LOGS]) + 1
r[F_LOGS] = n
putjob(Q, id, r)
redis.call("HSET", Q.logs, id .. "\n" .. n, ARGV[6])
return done(n)
