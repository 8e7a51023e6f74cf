-- groups.lua: reads a page of a queue's groups in name order (see
-- groups.lua in lua/parts), and the limits of each group.
--
--- @include groups
--
-- KEYS: one queue key set (NK keys, see layout.lua).
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] the name of the last group already seen ("": from the first);
--   [7] the most groups to return.
-- Returns: {concurrency, rate, rate period ms, name1, record1, ...}: the
--   groups after [6] that have jobs waiting or active or are paused, with
--   their records (G fields).

local Q = keyset(1, ARGV[5])
local gl = groups.limits(Q)
local out = {gl.conc, gl.rate, gl.per}
local limit = tonumber(ARGV[7])
local from = "[n"
if ARGV[6] ~= "" then
  from = "(n" .. ARGV[6]
end
local n = 0
while n < limit do
  local names = redis.call("ZRANGEBYLEX", Q.gx, from, "(o", "LIMIT", 0, limit)
  if #names == 0 then
    break
  end
  for i, m in ipairs(names) do
    names[i] = string.sub(m, 2)
  end
  local recs = redis.call("HMGET", Q.g, unpack(names))
  for i, name in ipairs(names) do
    local g = groups.decode(recs[i] or "")
    if n < limit and (num(g[G.READY]) > 0 or num(g[G.ACTIVE]) > 0 or g[G.PAUSED] == "1") then
      out[#out + 1] = name
      out[#out + 1] = recs[i]
      n = n + 1
    end
  end
  from = "(n" .. names[#names]
end
return done(out)
