-- renew.lua: extends the leases that still hold.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] ttl ms;
--   then pairs of job id and lease token.
-- Returns: the 1-based indexes of the pairs whose lease was lost.

local Q = keyset(1, ARGV[4])
local exp = NOW + tonumber(ARGV[5])
local lost = {}
local k = 0
for i = 6, #ARGV, 2 do
  k = k + 1
  local id, token = ARGV[i], ARGV[i + 1]
  local r = getjob(Q, id)
  if r and r[F_STATE] == "active" and r[F_TOKEN] == token then
    r[F_LEXP] = exp
    putjob(Q, id, r)
    redis.call("ZADD", Q.a, exp, id)
  else
    lost[#lost + 1] = k
  end
end
return done(lost)
