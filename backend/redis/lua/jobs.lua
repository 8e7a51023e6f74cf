-- jobs.lua: reads a page of the jobs of one state.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name; [6] state;
--   [7] offset; [8] limit (-1: all).
-- Returns: {id1, record1, id2, record2, ...} in the state's order.

local Q = keyset(1, ARGV[5])
local state, offset, limit = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local sets = {waiting = Q.w, delayed = Q.d, active = Q.a, ["waiting-children"] = Q.wc, completed = Q.c, failed = Q.f}
local set = sets[state]
local stop = -1
if limit >= 0 then stop = offset + limit - 1 end
local ids
if state == "completed" or state == "failed" then
  ids = redis.call("ZREVRANGE", set, offset, stop)
else
  ids = redis.call("ZRANGE", set, offset, stop)
end
local out = {}
for _, id in ipairs(ids) do
  local s = redis.call("HGET", Q.j, id)
  if s then
    out[#out + 1] = id
    out[#out + 1] = s
  end
end
return done(out)
