-- notify.lua: applies the end of a flow child from another queue to its
-- parent in this queue. Applying the same notice twice changes nothing.
--
--- @include flows
--
-- KEYS: the parent queue's key set (NK keys, see layout.lua).
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] parent ID; [7] child ref (queue "\n" ID); [8] child state
--   ("completed", "failed" or "removed"); [9] result; [10] reason; [11]
--   failure policy.
-- Returns: the length of this queue's outbox.

local Q = keyset(1, ARGV[5])
child_ended(Q, ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11])
trim_events(Q)
return done(redis.call("LLEN", Q.o))
