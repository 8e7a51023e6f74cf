-- drain.lua: removes the waiting jobs, and the delayed ones when asked,
-- each with its flow subtree and a removed event; the pending iterations
-- of job schedulers stay. A removed flow child is dropped from its
-- parent's dependencies.
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
    if not r then
      redis.call("ZREM", set, id)
    elseif not is_pending_iteration(Q, id, r) then
      n = n + 1
      remove_tree(Q, id, r, true)
    end
  end
end
if redis.call("ZCARD", Q.w) == 0 then
  redis.call("DEL", Q.wake)
end
emit(Q, "drained", nil, nil, nil, nil, nil, nil, nil, nil, n)
trim_events(Q)
return done({n, redis.call("LLEN", Q.o)}, istr(n))
