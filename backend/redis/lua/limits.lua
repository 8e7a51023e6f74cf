-- limits.lua: reads a queue's limits (see wake.lua) and what keeps its
-- jobs from starting now.
--
--- @include wake
--
-- KEYS: one queue key set (NK keys, see layout.lua).
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name.
-- Returns: {concurrency, rate, rate period ms, held until ms, next start
--   ms}: the last two 0 unless a hold or the rate limit keeps jobs from
--   starting now.

local Q = keyset(1, ARGV[5])
local lim = limits.of(Q)
if not lim.set then
  return done({0, 0, 0, 0, 0})
end
local held, nxt = 0, 0
if NOW < lim.hold then
  held = lim.hold
end
if lim.rate > 0 then
  -- Whatever the hold and concurrency, when the rate limit allows the
  -- next start.
  local free, later = window.room(window.queue(Q, lim.rate, lim.per))
  if free == 0 then
    nxt = later
  end
end
return done({lim.conc, lim.rate, lim.per, held, nxt})
