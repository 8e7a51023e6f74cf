-- hold.lua: holds a queue's jobs from starting for a while, with a
-- rate-limited event; a hold that ends no later than the current one
-- changes nothing.
--
--- @include wake
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] how long, ms.
-- Returns: 1. A resend changes nothing and gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
local till = NOW + tonumber(ARGV[6])
if limits.hold(Q, till) then
  emit(Q, {type = "rate-limited", run_at = till})
end
trim_events(Q)
return done(1, "")
