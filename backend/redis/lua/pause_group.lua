-- pause_group.lua: pauses or resumes one group of a queue (see
-- groups.lua), with a group-paused or group-resumed event; the queue
-- enters grouped mode. A group paused or resumed already changes
-- nothing, and no event is appended.
--
--- @include wake
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] group name; [7] "1" to pause, "0" to resume.
-- Returns: 1. A resend changes nothing and gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
local name, paused = ARGV[6], ARGV[7] == "1"
grouped(Q, true)
local g = groups.get(Q, name)
if (g[G.PAUSED] == "1") == paused then
  return done(1)
end
local typ = "group-resumed"
if paused then
  g[G.PAUSED] = "1"
  typ = "group-paused"
else
  g[G.PAUSED] = ""
end
groups.put(Q, name, g, false)
emit(Q, {type = typ, group = name})
if not paused then
  wake(Q, num(g[G.READY]))
end
trim_events(Q)
return done(1, "")
