-- events.lua: reads events after an ID and the bounds of the log.
--
-- KEYS: one queue key set (NK keys, see layout.lua).
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] after; [7] max.
-- Returns: {last id, first kept id (0: none), entry1, fields1, ...}: the
--   stream entries (see events.lua in parts) that hold events after after,
--   as many as hold at least max of them. Events more than the retention
--   count behind the last one count as trimmed even while the stream,
--   trimmed approximately, still holds them. After a cursor past the last
--   id, only {last id, 0}.

local Q = keyset(1, ARGV[5])
local lasts = redis.call("HGET", Q.meta, "ev") or "0"
local last = num(lasts)
local out = {last, 0}
-- A cursor ahead of the log, which the Go side reports. Both are decimal
-- strings without leading zeros, compared as such: a cursor may be beyond
-- what a Lua number holds exactly.
if #ARGV[6] > #lasts or (#ARGV[6] == #lasts and ARGV[6] > lasts) then
  return done(out)
end
local first = redis.call("XRANGE", Q.e, "-", "+", "COUNT", 1)
if first[1] then
  -- An entry's ID is its last event's; it holds c events.
  local e = first[1]
  out[2] = tonumber(string.match(e[1], "^(%d+)")) - num(e[2][4]) + 1
  if EVMAX > 0 and out[2] < last - EVMAX + 1 then
    out[2] = last - EVMAX + 1
  end
end
local from = tonumber(ARGV[6]) + 1
if out[2] > from then
  from = out[2]
end
local want = tonumber(ARGV[7])
local got = 0
local start = istr(from) .. "-0"
while got < want do
  local es = redis.call("XRANGE", Q.e, start, "+", "COUNT", 16)
  for _, e in ipairs(es) do
    local id = tonumber(string.match(e[1], "^(%d+)"))
    out[#out + 1] = id
    out[#out + 1] = e[2]
    got = got + math.min(num(e[2][4]), id - from + 1)
    start = istr(id + 1) .. "-0"
    if got >= want then
      break
    end
  end
  if #es < 16 then
    break
  end
end
return done(out)
