-- drain.lua: removes the waiting jobs, and the delayed ones when asked.
-- A removed flow child is dropped from its parent's dependencies.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] "1" to remove delayed jobs too.
-- Returns: {removed count, outbox length}. A resend gets the count of the
--   first run (kept) and the length of the outbox now.

local Q = keyset(1, ARGV[5])
local kept = replayed()
if kept then
  return done({tonumber(kept), redis.call("LLEN", Q.o)})
end
local sets = {Q.w}
if ARGV[6] == "1" then
  sets[2] = Q.d
end
local n = 0
for _, set in ipairs(sets) do
  local ids = redis.call("ZRANGE", set, 0, -1)
  for _, id in ipairs(ids) do
    local r = getjob(Q, id)
    redis.call("ZREM", set, id)
    if r then
      n = n + 1
      deljob(Q, id, r)
      if r[F_PID] ~= "" then
        notify_parent(Q, r[F_PQ], r[F_PID], ref(Q.name, id), "removed", "", "", "")
      end
    end
  end
end
redis.call("DEL", Q.wake)
emit(Q, "drained", nil, nil, nil, nil, nil, nil, nil, nil, n)
trim_events(Q)
return done({n, redis.call("LLEN", Q.o)}, istr(n))
