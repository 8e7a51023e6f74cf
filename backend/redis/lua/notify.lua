-- notify.lua: applies the end of a flow child from another queue to its
-- parent in this queue. Applying the same notice twice changes nothing.
--
-- KEYS: the parent queue's key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] parent
--   id; [6] child ref (queue "\n" id); [7] child state ("completed",
--   "failed" or "removed"); [8] result; [9] reason; [10] failure policy.
-- Returns: the length of this queue's outbox.

local Q = keyset(1, ARGV[4])
child_ended(Q, ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
trim_events(Q)
return done(redis.call("LLEN", Q.o))
