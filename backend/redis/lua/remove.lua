-- remove.lua: removes one job that is not active, with its non-active
-- descendants; active descendants are detached. A pending flow child is
-- dropped from its parent's dependencies.
--
--- @include transitions, flows, schedulers
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job ID.
-- Returns: the length of the queue's outbox. Errors ERR_NOTFOUND,
--   ERR_ACTIVE, ERR_ITERATION (a scheduler's pending iteration). A resend
--   gets the length of the outbox now.

local Q = keyset(1, ARGV[5])
if replayed() then
  return done(redis.call("LLEN", Q.o))
end
local id = ARGV[6]
local c, h = getjob(Q, id)
if not c then
  return redis.error_reply(ERR_NOTFOUND .. " job " .. id .. " in " .. Q.name)
end
if state_of(h) == ST_ACTIVE then
  return redis.error_reply(ERR_ACTIVE .. " job " .. id)
end
if is_pending_iteration(Q, id, c, h) then
  return redis.error_reply(ERR_ITERATION .. " " .. id .. "; remove job scheduler " .. c[J_SCHEDULER] ..
    " instead (RemoveJobScheduler)")
end
remove_tree(Q, id, c, h, true)
trim_events(Q)
return done(redis.call("LLEN", Q.o), "")
