-- clean.lua: removes jobs of one state that entered it at or before a
-- cutoff, each with its flow subtree and a removed event; the pending
-- iterations of job schedulers stay.
--
--- @include transitions, flows, schedulers
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] state ("completed", "failed", "waiting" or "delayed"); [7] grace
--   ms; [8] limit (0: no limit).
-- Returns: {outbox length, id1, id2, ...}: the removed job IDs. A resend
--   gets the IDs of the first run (kept as a record) and the outbox
--   length now.

local Q = keyset(1, ARGV[5])
local kept = replayed()
if kept then
  local out = dec(kept)
  table.insert(out, 1, redis.call("LLEN", Q.o))
  return done(out)
end
local state, grace, limit = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local cutoff = NOW - grace
local ids = {}
if state == "completed" or state == "failed" then
  local set = Q.c
  if state == "failed" then
    set = Q.f
  end
  if limit > 0 then
    ids = redis.call("ZRANGEBYSCORE", set, "-inf", cutoff, "LIMIT", 0, limit)
  else
    ids = redis.call("ZRANGEBYSCORE", set, "-inf", cutoff)
  end
else
  local all
  if state == "waiting" then
    all = list_ready(Q, 0, -1)
  else
    all = redis.call("ZRANGE", Q.d, 0, -1)
  end
  for _, id in ipairs(all) do
    local c, h = getjob(Q, id)
    if c and num(c[J_CREATED]) <= cutoff and not is_pending_iteration(Q, id, c, h) then
      ids[#ids + 1] = id
      if limit > 0 and #ids >= limit then break end
    end
  end
end
local out = {0}
local removed = {}
for _, id in ipairs(ids) do
  local c, h = getjob(Q, id)
  if c then
    remove_tree(Q, id, c, h, true)
    removed[#removed + 1] = id
    out[#out + 1] = id
  end
end
emit(Q, {type = "cleaned", count = #removed})
trim_events(Q)
out[1] = redis.call("LLEN", Q.o)
return done(out, enclist(removed))
