-- renew.lua: extends the leases that still hold, and reports those of
-- jobs that Cancel marked.
--
--- @include transitions
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] ttl ms; then pairs of job ID and lease token.
-- Returns: {lost, cancelled}: lost the 1-based indexes of the pairs whose
--   lease was lost; cancelled, for each renewed lease of a marked job, its
--   index and the cancel reason. A resend gets the lost ones of the first
--   run (kept joined by ","), though a lease may have been settled since,
--   and the marks as they are now; a call that renewed nothing keeps
--   nothing.

local Q = keyset(1, ARGV[5])
local kept = replayed()
local exp = NOW + tonumber(ARGV[6])
local lost, marked = {}, {}
local k = 0
if kept then
  local gone = {}
  for x in string.gmatch(kept, "%d+") do
    lost[#lost + 1] = tonumber(x)
    gone[tonumber(x)] = true
  end
  for i = 7, #ARGV, 2 do
    k = k + 1
    if not gone[k] then
      local h = dec(redis.call("HGET", Q.h, ARGV[i]) or "")
      if h[H_CANCEL] == "1" then
        marked[#marked + 1] = k
        marked[#marked + 1] = h[H_CANCEL_REASON] or ""
      end
    end
  end
  return done({lost, marked})
end
for i = 7, #ARGV, 2 do
  k = k + 1
  local id, token = ARGV[i], ARGV[i + 1]
  local hs = redis.call("HGET", Q.h, id)
  local h = dec(hs or "")
  if hs and state_of(h) == ST_ACTIVE and h[H_TOKEN] == token then
    h[H_LEASE_EXPIRES] = exp
    puthot(Q, id, h)
    redis.call("ZADD", Q.a, exp, id)
    if h[H_CANCEL] == "1" then
      marked[#marked + 1] = k
      marked[#marked + 1] = h[H_CANCEL_REASON] or ""
    end
  else
    lost[#lost + 1] = k
  end
end
local keep = nil
if #lost < k then
  keep = table.concat(lost, ",")
end
return done({lost, marked}, keep)
