-- logs.lua: reads a page of a job's log lines.
--
--- @include record
--
-- KEYS: one queue key set (NK keys, see layout.lua).
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job ID; [7] offset; [8] limit (0: all).
-- Returns: {total, line1, line2, ...}. Error ERR_NOTFOUND.

local Q = keyset(1, ARGV[5])
local id = ARGV[6]
if redis.call("HEXISTS", Q.j, id) == 0 then
  return redis.error_reply(ERR_NOTFOUND .. " job " .. id .. " in " .. Q.name)
end
local total = num(dec(redis.call("HGET", Q.h, id) or "")[H_LOGS])
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
