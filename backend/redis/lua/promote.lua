-- promote.lua: makes delayed jobs waiting now, at the back of their line;
-- each gets a promoted event.
--
--- @include transitions
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job ID, or "" to promote those due first; [7] limit.
-- Returns: the IDs promoted. Errors ERR_NOTFOUND, ERR_WRONGSTATE (a job
--   named that is not delayed). A resend gets the IDs of the first run,
--   kept as a record.

local Q = keyset(1, ARGV[5])
local kept = replayed()
if kept then
  return done(dec(kept))
end
local id, limit = ARGV[6], tonumber(ARGV[7])
local ids
if id ~= "" then
  local _, _, err = job_in(Q, id, "delayed", ST_DELAYED)
  if err then
    return err
  end
  ids = {id}
else
  ids = redis.call("ZRANGE", Q.d, 0, limit - 1)
end
local woke = 0
for _, jid in ipairs(ids) do
  local c, h = getjob(Q, jid)
  if c then
    redis.call("ZREM", Q.d, jid)
    h[H_RUN_AT] = ""
    woke = woke + announce(Q, jid, c, h, 0, false, "promoted")
  end
end
if woke > 0 then
  wake(Q, woke)
end
trim_events(Q)
return done(ids, enclist(ids))
