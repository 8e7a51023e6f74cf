-- change.lua: changes a waiting or delayed job: its priority, its run
-- time and its data, with a changed event. A job whose place changes (a
-- new priority, delayed, or made waiting) goes to the back of its line.
--
--- @include change
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] job ID; [7] priority ("" unchanged); [8] run time in ms (""
--   unchanged); [9] "1" to change the data; [10] the data.
-- Returns: 1. Errors ERR_NOTFOUND, ERR_WRONGSTATE. A resend gets 1.

if replayed() then
  return done(1)
end
local Q = keyset(1, ARGV[5])
local id, prio, runat, setdata = ARGV[6], ARGV[7], ARGV[8], ARGV[9] == "1"
local s = redis.call("HGET", Q.j, id)
if not s then
  return redis.error_reply(ERR_NOTFOUND .. " job " .. id .. " in " .. Q.name)
end
local h = dec(redis.call("HGET", Q.h, id) or "")
local st = state_of(h)
if st ~= ST_WAITING and st ~= ST_DELAYED then
  return redis.error_reply(ERR_WRONGSTATE .. " " .. CODE_STATE[st] .. " waiting,delayed")
end
local p, at, data = nil, nil, nil
if prio ~= "" then
  p = tonumber(prio)
end
if runat ~= "" then
  at = tonumber(runat)
end
if setdata then
  data = ARGV[10]
end
change_job(Q, id, dec(s), h, st, p, at, data)
trim_events(Q)
return done(1, "")
