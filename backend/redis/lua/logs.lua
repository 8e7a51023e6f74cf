-- logs.lua: reads a page of a job's log lines.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name; [6] job id;
--   [7] offset; [8] limit (0: all).
-- Returns: {total, line1, line2, ...}. Error "DROVER_NOTFOUND".

local Q = keyset(1, ARGV[5])
local id = ARGV[6]
local r = getjob(Q, id)
if not r then
  return redis.error_reply("DROVER_NOTFOUND job " .. id .. " in " .. Q.name)
end
local total = num(r[F_LOGS])
local from, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
local to = total
if limit > 0 and from + limit < to then
  to = from + limit
end
local out = {total}
for i = from + 1, to do
  out[#out + 1] = redis.call("HGET", Q.logs, id .. "\n" .. i) or ""
end
return done(out)
