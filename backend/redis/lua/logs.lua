-- logs.lua: reads a page of a job's log lines.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] job id;
--   [6] offset; [7] limit (0: all).
-- Returns: {total, line1, line2, ...}. Error "DROVER_NOTFOUND".

local Q = keyset(1, ARGV[4])
local id = ARGV[5]
local r = getjob(Q, id)
if not r then
  return redis.error_reply("DROVER_NOTFOUND job " .. id .. " in " .. Q.name)
end
local total = num(r[F_LOGS])
local from, limit = tonumber(ARGV[6]), tonumber(ARGV[7])
local to = total
if limit > 0 and from + limit < to then
  to = from + limit
end
local out = {total}
for i = from + 1, to do
  out[#out + 1] = redis.call("HGET", Q.logs, id .. "\n" .. i) or ""
end
return done(out)
