-- publish.lua: appends an application event to the queue's log.
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] event name; [7] data.
-- Returns: the event's ID. A resend gets the ID of the first run, kept.

local kept = replayed()
if kept then
  return done(tonumber(kept))
end
local Q = keyset(1, ARGV[5])
emit(Q, {type = "published", name = ARGV[6], data = ARGV[7]})
trim_events(Q)
local id = num(redis.call("HGET", Q.meta, "ev")) + 1
return done(id, tostring(id))
