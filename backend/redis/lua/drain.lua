-- drain.lua: removes the waiting jobs, and the delayed ones when asked,
-- each with its flow subtree and a removed event; the pending iterations
-- of job schedulers stay. A removed flow child is dropped from its
-- parent's dependencies.
--
--- @include transitions, flows, schedulers
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] "1" to remove delayed jobs too.
-- Returns: {removed count, outbox length}. A resend gets the count of the
--   first run (kept) and the length of the outbox now.

local Q = keyset(1, ARGV[5])
local kept = replayed()
if kept then
  return done({tonumber(kept), redis.call("LLEN", Q.o)})
end
local ids = list_ready(Q, 0, -1)
if ARGV[6] == "1" then
  for _, id in ipairs(redis.call("ZRANGE", Q.d, 0, -1)) do
    ids[#ids + 1] = id
  end
end
local n = 0
for _, id in ipairs(ids) do
  local c, h = getjob(Q, id)
  if c and not is_pending_iteration(Q, id, c, h) then
    n = n + 1
    remove_tree(Q, id, c, h, true)
  end
end
if count_ready(Q) == 0 then
  redis.call("DEL", Q.wake)
end
emit(Q, {type = "drained", count = n})
trim_events(Q)
return done({n, redis.call("LLEN", Q.o)}, tostring(n))
