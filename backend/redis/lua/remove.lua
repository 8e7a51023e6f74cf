-- remove.lua: removes one job that is not active, with its non-active
-- descendants; active descendants are detached. A pending flow child is
-- dropped from its parent's dependencies.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job id.
-- Returns: the length of the queue's outbox. Errors "DROVER_NOTFOUND",
--   "DROVER_ACTIVE", "DROVER_ITERATION" (a scheduler's pending iteration).
--   A resend gets the length of the outbox now.

local Q = keyset(1, ARGV[5])
if replayed() then
  return done(redis.call("LLEN", Q.o))
end
local id = ARGV[6]
local r = getjob(Q, id)
if not r then
  return redis.error_reply("DROVER_NOTFOUND job " .. id .. " in " .. Q.name)
end
if r[F_STATE] == "active" then
  return redis.error_reply("DROVER_ACTIVE job " .. id)
end
if is_pending_iteration(Q, id, r) then
  return redis.error_reply("DROVER_ITERATION " .. id .. "; remove job scheduler " .. r[F_SCHED] ..
    " instead (RemoveJobScheduler)")
end
remove_tree(Q, id, r, true)
trim_events(Q)
return done(redis.call("LLEN", Q.o), "")
