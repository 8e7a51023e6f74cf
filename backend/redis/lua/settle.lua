-- settle.lua: ends attempts whose lease still holds; updates flow parents,
-- appends events and applies retention in the same step.
--
--- @include transitions, flows
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   then one group per settlement: job ID, lease token, outcome (1
--   complete, 2 fail, 3 retry, 4 release, 5 snooze), result; for outcomes
--   other than 1 also reason, stack trace (a record of lines), retry or
--   snooze delay ms, or for a release how long to hold the queue (0:
--   not). A job that Cancel marked is not retried, released or snoozed:
--   it fails as cancelled.
-- Returns: one status per group ("" applied, "LOST" lease lost), then the
--   length of the queue's outbox. A resend gets the statuses of the first
--   run (it kept the indexes of the lost ones, joined by ",") and the
--   outbox length now; a call that settled nothing keeps nothing.

local Q = keyset(1, ARGV[5])
local ids, at = {}, {}
local pos = 6
while pos <= #ARGV do
  ids[#ids + 1] = ARGV[pos]
  at[#at + 1] = pos
  if ARGV[pos + 2] == "1" then
    pos = pos + 4
  else
    pos = pos + 7
  end
end
local out = {}
local kept = replayed()
if kept then
  for k = 1, #ids do
    out[k] = ""
  end
  for k in string.gmatch(kept, "%d+") do
    out[tonumber(k)] = "LOST"
  end
  out[#ids + 1] = redis.call("LLEN", Q.o)
  return done(out)
end

-- The records of every job named, read at once; a job whose records a
-- settlement before it wrote (a parent told of its child, a job named
-- twice) is read again.
local recs, hots = {}, {}
for i = 1, #ids, 1000 do
  local part = {unpack(ids, i, math.min(i + 999, #ids))}
  local r, h = redis.call("HMGET", Q.j, unpack(part)), redis.call("HMGET", Q.h, unpack(part))
  for k = 1, #part do
    recs[i + k - 1], hots[i + k - 1] = r[k], h[k]
  end
end
-- The names of the plain jobs completed and their groups (see
-- plain_name), and the groups read at once; their changes are written at
-- the end, together. Other outcomes take the transitions, which read
-- what they need.
local names, grps, gnames = {}, {}, {}
for k = 1, #ids do
  if recs[k] and ARGV[at[k] + 2] == "1" then
    local name, grp = plain_name(recs[k])
    names[k], grps[k] = name, grp
    if grp then
      gnames[#gnames + 1] = grp
    end
  end
end
if #gnames > 0 then
  groups.fetch(Q, gnames)
end
Q.gdefer = true
-- Completions of jobs without flow parent or retention, the common case,
-- write their set entries in batches.
local zrem, zadd, hset = batch("ZREM", Q.a), batch("ZADD", Q.c), batch("HSET", Q.h)
local woke = 0
local lost = {}
for k = 1, #ids do
  local i = at[k]
  local id, token, outcome, result = ids[k], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local s, hs = recs[k], hots[k]
  local name, grp = names[k], grps[k]
  if TOUCHED[id] then
    s, hs = redis.call("HGET", Q.j, id), redis.call("HGET", Q.h, id)
    name, grp = nil, nil
    if s and outcome == 1 then
      name, grp = plain_name(s)
    end
  end
  local h = dec(hs or "")
  if not s or state_of(h) ~= ST_ACTIVE or h[H_TOKEN] ~= token then
    out[k] = "LOST"
    lost[#lost + 1] = k
  else
    out[k] = ""
    clear_lease(h)
    if outcome <= 3 then
      h[H_MADE] = num(h[H_MADE]) + 1
    end
    if name then
      -- A completion of a job without flow links, retention or scheduler.
      if grp then
        groups.active(Q, grp, -1)
      end
      h[H_STATE], h[H_FINISHED], h[H_RESULT] = ST_COMPLETED, NOWS, result
      push(zrem, id)
      push(zadd, NOWS, id)
      push(hset, id, enc(h, H_N))
      TOUCHED[id] = true
      local x = ""
      if result ~= "" then
        local t = {}
        t[X.RESULT] = result
        x = enc(t, X.RESULT)
      end
      event(Q, "completed", id, name, h[H_MADE], x)
    else
      flush(zrem)
      flush(zadd)
      flush(hset)
      local c = dec(s, J_DATA)
      leave_active(Q, id, c)
      local cancel = cancelled(h)
      if outcome == 1 then
        finish(Q, id, c, h, ST_COMPLETED, result, nil, nil)
      elseif cancel and outcome >= 3 then
        finish(Q, id, c, h, ST_FAILED, nil, cancel, ARGV[i + 5])
      elseif outcome == 2 then
        finish(Q, id, c, h, ST_FAILED, nil, ARGV[i + 4], ARGV[i + 5])
      elseif outcome == 3 then
        local reason, delay = ARGV[i + 4], tonumber(ARGV[i + 6])
        h[H_REASON], h[H_STACK] = reason, ARGV[i + 5]
        job_event(Q, "retrying", id, c, h, {reason = reason})
        if delay > 0 then
          announce(Q, id, c, h, NOW + delay, false)
          delay_notice(Q, id)
        else
          woke = woke + announce(Q, id, c, h, 0, false)
        end
      elseif outcome == 4 then
        -- Released unrun: the attempt does not count, and the job goes
        -- back to the front of its line.
        h[H_WORKER] = ""
        woke = woke + announce(Q, id, c, h, 0, true)
        local till = NOW + tonumber(ARGV[i + 6])
        if till > NOW and limits.hold(Q, till) then
          job_event(Q, "rate-limited", id, c, h, {run_at = till})
        end
      else
        -- Snoozed: the attempt does not count.
        local delay = tonumber(ARGV[i + 6])
        if delay > 0 then
          announce(Q, id, c, h, NOW + delay, false, "snoozed")
          delay_notice(Q, id)
        else
          woke = woke + announce(Q, id, c, h, 0, false, "snoozed")
        end
      end
    end
  end
end
flush(zrem)
flush(zadd)
flush(hset)
Q.gdefer = false
groups.flush(Q)
if #lost < #ids then
  -- Every job settled left active: a slot for another under a
  -- concurrency limit.
  wake(Q, woke, #ids - #lost)
end
trim_events(Q)
out[#out + 1] = redis.call("LLEN", Q.o)
-- A call that settled nothing keeps nothing: run again, it changes
-- nothing again and gets the same reply.
local keep = nil
if #lost < #ids then
  keep = table.concat(lost, ",")
end
return done(out, keep)
