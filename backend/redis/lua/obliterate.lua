-- obliterate.lua: removes a queue and everything in it. The job and event
-- counters stay, so that no later job or event of the queue reuses an ID,
-- and so does the outbox: a pending flow child removed here tells its
-- parent in another queue through it, as RemoveJob would.
--
--- @include transitions, flows
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] "1" to force removal while jobs are active.
-- Returns: the length of the queue's outbox. Error ERR_ACTIVE if jobs are
--   active and not forced. A resend changes nothing (not even jobs added
--   since) and gets the length of the outbox now.

local Q = keyset(1, ARGV[5])
if replayed() then
  return done(redis.call("LLEN", Q.o))
end
if ARGV[6] ~= "1" and redis.call("ZCARD", Q.a) > 0 then
  return redis.error_reply(ERR_ACTIVE .. " queue " .. Q.name .. " has active jobs")
end
local cursor = "0"
repeat
  local page = redis.call("HSCAN", Q.j, cursor, "COUNT", 1000)
  cursor = page[1]
  local kv = page[2]
  for i = 1, #kv, 2 do
    local c = dec(kv[i + 1], J_DATA)
    local pq = c[J_PARENT_QUEUE]
    if pq and pq ~= "" and pq ~= Q.name then
      local st = state_of(dec(redis.call("HGET", Q.h, kv[i]) or ""))
      if st ~= ST_COMPLETED and st ~= ST_FAILED then
        notify_parent(Q, pq, c[J_PARENT_ID], ref(Q.name, kv[i]), "removed", "", "", "")
      end
    end
  end
until cursor == "0"
for _, key in ipairs({Q.j, Q.h, Q.w, Q.p, Q.d, Q.a, Q.c, Q.f, Q.wc, Q.e, Q.wake, Q.logs, Q.s, Q.deps, Q.dd, Q.ddx,
  Q.g, Q.gx, Q.gr}) do
  redis.call("DEL", key)
end
redis.call("HDEL", Q.meta, "paused", "conc", "rate", "per", "hold", "groups", "gconc", "grate", "gper", "gseq", "groom")
redis.call("DEL", Q.st)
return done(redis.call("LLEN", Q.o), "")
