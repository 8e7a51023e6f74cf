-- jobs.lua: reads a page of the jobs of one state, or jobs by ID.
--
--- @include flows
--
-- KEYS: one queue key set (NK keys, see layout.lua).
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] state, or "" to read the jobs whose IDs follow; then [7] offset,
--   [8] limit (-1: all) and [9] a group ("": none; for waiting jobs only,
--   read from the group's line), or the IDs.
-- Returns: {id1, job1, hot1, children1, ...} in the state's order (or the
--   order of the IDs, leaving out those that do not exist); see children
--   in flows.lua.

local Q = keyset(1, ARGV[5])
local state = ARGV[6]
local ids
if state == "" then
  ids = {unpack(ARGV, 7)}
else
  local offset, limit = tonumber(ARGV[7]), tonumber(ARGV[8])
  local stop = -1
  if limit >= 0 then stop = offset + limit - 1 end
  if state == "waiting" and ARGV[9] ~= "" then
    ids = groups.line_ids(Q, ARGV[9], offset, limit)
  elseif state == "waiting" then
    ids = list_ready(Q, offset, limit)
  elseif state == "completed" then
    ids = redis.call("ZREVRANGE", Q.c, offset, stop)
  elseif state == "failed" then
    ids = redis.call("ZREVRANGE", Q.f, offset, stop)
  else
    local sets = {delayed = Q.d, active = Q.a, ["waiting-children"] = Q.wc}
    ids = redis.call("ZRANGE", sets[state], offset, stop)
  end
end
local out = {}
for _, id in ipairs(ids) do
  local s = redis.call("HGET", Q.j, id)
  if s then
    out[#out + 1] = id
    out[#out + 1] = s
    out[#out + 1] = redis.call("HGET", Q.h, id) or ""
    out[#out + 1] = children(Q, id, dec(s, J_DATA))
  end
end
return done(out)
