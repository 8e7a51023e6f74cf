-- progress.lua: stores a job's progress and appends a progress event.
--
--- @include transitions
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job ID; [7] progress.
-- Returns: 1. Error ERR_NOTFOUND. A resend gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
local id = ARGV[6]
local c, h = getjob(Q, id)
if not c then
  return redis.error_reply(ERR_NOTFOUND .. " job " .. id .. " in " .. Q.name)
end
h[H_PROGRESS] = ARGV[7]
puthot(Q, id, h)
job_event(Q, "progress", id, c, h, {progress = ARGV[7]})
trim_events(Q)
return done(1, "")
