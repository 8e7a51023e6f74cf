-- dedup_release.lua: lets go of a deduplication key at once, dropping an
-- add it kept to run later; the key's job does not change.
--
--- @include transitions
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] the key.
-- Returns: 1 if the key held, else 0. A resend gets the reply of the
--   first run, kept.

local kept = replayed()
if kept then
  return done(tonumber(kept))
end
local Q = keyset(1, ARGV[5])
local key = ARGV[6]
local held = 0
if dedup.holder(Q, key) then
  held = 1
end
if redis.call("HEXISTS", Q.dd, key) == 0 then
  return done(0)
end
dedup.del(Q, key)
return done(held, tostring(held))
