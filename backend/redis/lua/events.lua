-- events.lua: reads events after an ID and the bounds of the log.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] after;
--   [6] max.
-- Returns: {last id, first kept id (0: none), id1, fields1, ...}: fields
--   as stored by emit (lib.lua). Events more than the retention count
--   behind the last one count as trimmed even while the stream, trimmed
--   approximately, still holds them.

local Q = keyset(1, ARGV[4])
local last = num(redis.call("HGET", Q.meta, "ev"))
local first = redis.call("XRANGE", Q.e, "-", "+", "COUNT", 1)
local out = {last, 0}
if first[1] then
  out[2] = tonumber(string.match(first[1][1], "^(%d+)"))
  if EVMAX > 0 and out[2] < last - EVMAX + 1 then
    out[2] = last - EVMAX + 1
  end
end
local from = tonumber(ARGV[5]) + 1
if out[2] > from then
  from = out[2]
end
local es = redis.call("XRANGE", Q.e, istr(from) .. "-0", "+", "COUNT", tonumber(ARGV[6]))
for _, e in ipairs(es) do
  out[#out + 1] = tonumber(string.match(e[1], "^(%d+)"))
  out[#out + 1] = e[2]
end
return out
