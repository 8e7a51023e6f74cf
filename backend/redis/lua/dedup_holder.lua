-- dedup_holder.lua: reads who holds a deduplication key.
--
--- @include transitions
--
-- KEYS: one queue key set (NK keys, see layout.lua).
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] the key.
-- Returns: {} when the key is free, else {job ID, mode, expiry ms (""
--   none), "1" when an add is kept to run after the job ("" else)}.

local Q = keyset(1, ARGV[5])
local e = dedup.holder(Q, ARGV[6])
if not e then
  return done({})
end
local kept = ""
if e[D.NEXT] and e[D.NEXT] ~= "" then
  kept = "1"
end
return done({e[D.JOB], e[D.MODE] or "", e[D.EXPIRES] or "", kept})
