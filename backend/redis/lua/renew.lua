-- renew.lua: extends the leases that still hold.
--
--- @include transitions
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] ttl ms; then pairs of job ID and lease token.
-- Returns: the 1-based indexes of the pairs whose lease was lost. A resend
--   gets those of the first run (kept joined by ","), though a lease may
--   have been settled since; a call that renewed nothing keeps nothing.

local kept = replayed()
if kept then
  local lost = {}
  for k in string.gmatch(kept, "%d+") do
    lost[#lost + 1] = tonumber(k)
  end
  return done(lost)
end
local Q = keyset(1, ARGV[5])
local exp = NOW + tonumber(ARGV[6])
local lost = {}
local k = 0
for i = 7, #ARGV, 2 do
  k = k + 1
  local id, token = ARGV[i], ARGV[i + 1]
  local hs = redis.call("HGET", Q.h, id)
  local h = dec(hs or "")
  if hs and state_of(h) == ST_ACTIVE and h[H_TOKEN] == token then
    h[H_LEASE_EXPIRES] = exp
    puthot(Q, id, h)
    redis.call("ZADD", Q.a, exp, id)
  else
    lost[#lost + 1] = k
  end
end
local keep = nil
if #lost < k then
  keep = table.concat(lost, ",")
end
return done(lost, keep)
