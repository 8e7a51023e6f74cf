-- remove_sched.lua: removes a scheduler record and its pending iteration.
--
--- @include transitions, flows, schedulers
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] ID.
-- Returns: 1. Error ERR_NOTFOUND. A resend gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
local raw = redis.call("HGET", Q.s, ARGV[6])
if not raw then
  return redis.error_reply(ERR_NOTFOUND .. " scheduler " .. ARGV[6] .. " in " .. Q.name)
end
local pid, pc, ph = pending_iteration(Q, dec(raw))
if pid then
  unset(Q, pid, pc, ph)
  remove_job(Q, pid, pc, ph)
end
redis.call("HDEL", Q.s, ARGV[6])
emit(Q, {type = "scheduler-removed", scheduler = ARGV[6]})
trim_events(Q)
return done(1, "")
