-- progress.lua: stores a job's progress and appends a progress event.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] job id;
--   [6] progress.
-- Returns: 1. Error "DROVER_NOTFOUND".

local Q = keyset(1, ARGV[4])
local id = ARGV[5]
local r = getjob(Q, id)
if not r then
  return redis.error_reply("DROVER_NOTFOUND job " .. id .. " in " .. Q.name)
end
r[F_PROG] = ARGV[6]
putjob(Q, id, r)
emit(Q, "progress", id, r[F_NAME], r[F_MADE], nil, nil, ARGV[6], nil, r[F_SCHED], nil)
trim_events(Q)
return done(1)
