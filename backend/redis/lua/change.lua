-- change.lua: changes a waiting or delayed job: its priority, its run
-- time and its data, with a changed event. A job whose place changes (a
-- new priority, delayed, or made waiting) goes to the back of its line.
--
--- @include transitions
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
local c = dec(s)
local oldprio, oldat = num(c[J_PRIORITY]), 0
if st == ST_DELAYED then
  -- (a waiting job's hot record may keep the run time it had before)
  oldat = num(h[H_RUN_AT])
end
local prionum, at = oldprio, oldat
if prio ~= "" then
  prionum = tonumber(prio)
  c[J_PRIORITY] = prionum
end
if runat ~= "" then
  at = tonumber(runat)
end
if setdata then
  c[J_DATA] = ARGV[10]
end
if prio ~= "" or setdata then
  redis.call("HSET", Q.j, id, enc(c, J_N))
  TOUCHED[id] = true
end
local delayed = at > NOW
local moved = prionum ~= oldprio or delayed ~= (st == ST_DELAYED) or (delayed and at ~= oldat)
if moved then
  if st == ST_WAITING then
    unready(Q, id, oldprio)
  else
    redis.call("ZREM", Q.d, id)
  end
  if not delayed then
    h[H_RUN_AT] = ""
  end
  if announce(Q, id, c, h, at, false, "changed") == 1 then
    wake(Q, 1)
  else
    delay_notice(Q, id)
  end
elseif delayed then
  job_event(Q, "changed", id, c, h, {run_at = at})
else
  job_event(Q, "changed", id, c, h)
end
trim_events(Q)
return done(1, "")
