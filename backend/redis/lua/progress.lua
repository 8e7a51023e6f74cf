-- progress.lua: stores a job's progress and appends a progress event.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job id; [7] progress.
-- Returns: 1. Error "DROVER_NOTFOUND". A resend gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
local id = ARGV[6]
local r = getjob(Q, id)
if not r then
  return redis.error_reply("DROVER_NOTFOUND job " .. id .. " in " .. Q.name)
end
r[F_PROG] = ARGV[7]
putjob(Q, id, r)
emit(Q, "progress", id, r[F_NAME], r[F_MADE], nil, nil, ARGV[7], nil, r[F_SCHED], nil)
trim_events(Q)
return done(1, "")
