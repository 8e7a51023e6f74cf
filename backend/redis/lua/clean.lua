-- clean.lua: removes jobs of one state that entered it before a cutoff,
-- each with its flow subtree and a removed event; the pending iterations
-- of job schedulers stay.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] state ("completed", "failed", "waiting" or "delayed"); [7] grace
--   ms; [8] limit (0: no limit).
-- Returns: {outbox length, id1, id2, ...}: the removed job ids. A resend
--   gets the ids of the first run (kept encoded) and the outbox length now.

local Q = keyset(1, ARGV[5])
local kept = replayed()
if kept then
  local out = dec(kept)
  table.insert(out, 1, redis.call("LLEN", Q.o))
  return done(out)
end
local state, grace, limit = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local cutoff = NOW - grace
local set = ({completed = Q.c, failed = Q.f, waiting = Q.w, delayed = Q.d})[state]
local ids = {}
if state == "completed" or state == "failed" then
  if limit > 0 then
    ids = redis.call("ZRANGEBYSCORE", set, "-inf", cutoff, "LIMIT", 0, limit)
  else
    ids = redis.call("ZRANGEBYSCORE", set, "-inf", cutoff)
  end
else
  for _, id in ipairs(redis.call("ZRANGE", set, 0, -1)) do
    local r = getjob(Q, id)
    if r and num(r[F_CREATED]) <= cutoff and not is_pending_iteration(Q, id, r) then
      ids[#ids + 1] = id
      if limit > 0 and #ids >= limit then break end
    end
  end
end
local out = {0}
for _, id in ipairs(ids) do
  local r = getjob(Q, id)
  if r then
    remove_tree(Q, id, r, true)
    out[#out + 1] = id
  else
    redis.call("ZREM", set, id)
  end
end
emit(Q, "cleaned", nil, nil, nil, nil, nil, nil, nil, nil, #out - 1)
trim_events(Q)
out[1] = redis.call("LLEN", Q.o)
return done(out, enclist({unpack(out, 2)}))
