-- settle.lua: ends attempts whose lease still holds; updates flow parents,
-- appends events and applies retention in the same step.
--
--- @include transitions, flows
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   then one group per settlement: job ID, lease token, outcome (1
--   complete, 2 fail, 3 retry, 4 release), result; for outcomes other
--   than 1 also reason, stack trace (a record of lines), retry delay ms.
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

local woke = 0
local lost = {}
for k = 1, #ids do
  local i = at[k]
  local id, token, outcome, result = ids[k], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  -- Read one by one: a settlement may change the records of others (a
  -- parent made ready, retention).
  local c, h = getjob(Q, id)
  if not c or state_of(h) ~= ST_ACTIVE or h[H_TOKEN] ~= token then
    out[k] = "LOST"
    lost[#lost + 1] = k
  else
    out[k] = ""
    redis.call("ZREM", Q.a, id)
    clear_lease(h)
    if outcome == 1 then
      h[H_MADE] = num(h[H_MADE]) + 1
      finish(Q, id, c, h, ST_COMPLETED, result, nil, nil)
    elseif outcome == 2 then
      h[H_MADE] = num(h[H_MADE]) + 1
      finish(Q, id, c, h, ST_FAILED, nil, ARGV[i + 4], ARGV[i + 5])
    elseif outcome == 3 then
      local reason, delay = ARGV[i + 4], tonumber(ARGV[i + 6])
      h[H_MADE] = num(h[H_MADE]) + 1
      h[H_REASON], h[H_STACK] = reason, ARGV[i + 5]
      job_event(Q, "retrying", id, c, h, {reason = reason})
      if delay > 0 then
        announce(Q, id, c, h, NOW + delay, false)
        delay_notice(Q, id)
      else
        woke = woke + announce(Q, id, c, h, 0, false)
      end
    else
      -- Released unrun: back to the front of its line.
      h[H_WORKER] = ""
      woke = woke + announce(Q, id, c, h, 0, true)
    end
  end
end
if woke > 0 then
  wake(Q, woke)
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
