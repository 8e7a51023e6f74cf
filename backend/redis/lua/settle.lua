-- settle.lua: ends attempts whose lease still holds; updates flow parents,
-- appends events and applies retention in the same step.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   then one group per settlement: job id, lease token, outcome
--   (1 complete, 2 fail, 3 retry, 4 release), result; for outcomes other
--   than 1 also reason, stack trace (encoded list), retry delay ms.
-- Returns: one status per group ("" applied, "LOST" lease lost), then the
--   length of the queue's outbox. A resend gets the statuses of the first
--   run (kept as the indexes of the lost groups, joined by ",").

local Q = keyset(1, ARGV[5])
local out, lost = {}, {}
local woke = 0
local fnow = t14(NOW)
local zrem, hset, zadd = batch("ZREM", Q.a), batch("HSET", Q.j), batch("ZADD", Q.c)
local pending = {}
local PAD10 = setmetatable({}, {__index = function(t, k)
  local v = string.format("%010d", k)
  rawset(t, k, v)
  return v
end})
-- The records of every job named, read at once. A job named twice is read
-- again after its first settlement; no settlement changes the record of
-- another job that is active, so the others stay current.
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
local recs = {}
for i = 1, #ids, 1000 do
  local part = redis.call("HMGET", Q.j, unpack(ids, i, math.min(i + 999, #ids)))
  for k = 1, #part do
    recs[i + k - 1] = part[k]
  end
end
local seen = {}
for k = 1, #ids do
  local i = at[k]
  local id, token, outcome, result = ids[k], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local s = recs[k]
  if seen[id] then
    s = not pending[id] and redis.call("HGET", Q.j, id)
  end
  seen[id] = true
  -- Fast path: completing an active job without scheduler, parent or
  -- retention splices the header, token and result fields.
  if s and outcome == 1 and string.byte(s, 1) == 97 and string.byte(s, 2) == 48 then
    local c = string.find(s, ":", HDR + 1, true)
    local e = c + tonumber(string.sub(s, HDR + 1, c - 1))
    if string.sub(s, c + 1, e) ~= token then
      out[#out + 1] = "LOST"
      lost[#lost + 1] = #out
    else
      out[#out + 1] = ""
      c = string.find(s, ":", e + 1, true)
      local e2 = c + tonumber(string.sub(s, e + 1, c - 1))
      c = string.find(s, ":", e2 + 1, true)
      local e3 = c + tonumber(string.sub(s, e2 + 1, c - 1))
      local name = string.sub(s, c + 1, e3)
      c = string.find(s, ":", e3 + 1, true)
      local e4 = c + tonumber(string.sub(s, e3 + 1, c - 1))
      local made = tonumber(string.sub(s, 3, 12)) + 1
      local ns = "c0" .. PAD10[made] .. string.sub(s, 13, 50) .. fnow .. "00000000000000" .. "0:" ..
        string.sub(s, e + 1, e3) .. LP[#result] .. result .. string.sub(s, e4 + 1)
      push(zrem, id)
      push(hset, id, ns)
      push(zadd, NOWS, id)
      pending[id] = true
      emit(Q, "completed", id, name, made, result, nil, nil, nil, nil, nil)
    end
  else
    if next(pending) then
      flush(zrem)
      flush(hset)
      flush(zadd)
      pending = {}
    end
    local reason, stack, delay = ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6])
    local r = getjob(Q, id)
    if not r or r[F_STATE] ~= "active" or r[F_TOKEN] ~= token then
      out[#out + 1] = "LOST"
      lost[#lost + 1] = #out
    else
      out[#out + 1] = ""
      redis.call("ZREM", Q.a, id)
      r[F_TOKEN] = ""
      r[F_LEXP] = 0
      if outcome == 1 then
        r[F_MADE] = num(r[F_MADE]) + 1
        r[F_STATE] = "completed"
        r[F_RES] = result
        r[F_FIN] = NOW
        putjob(Q, id, r)
        emit(Q, "completed", id, r[F_NAME], r[F_MADE], result, nil, nil, nil, r[F_SCHED], nil)
        redis.call("ZADD", Q.c, NOW, id)
        if r[F_PID] ~= "" then
          notify_parent(Q, r[F_PQ], r[F_PID], ref(Q.name, id), "completed", result, "", r[F_POLICY])
        end
        retain(Q, Q.c, id, r, r[F_KC])
      elseif outcome == 2 then
        r[F_MADE] = num(r[F_MADE]) + 1
        fail_job(Q, id, r, reason, stack)
      elseif outcome == 3 then
        r[F_MADE] = num(r[F_MADE]) + 1
        r[F_REASON] = reason
        r[F_STACK] = stack
        emit(Q, "retrying", id, r[F_NAME], r[F_MADE], nil, reason, nil, nil, r[F_SCHED], nil)
        if delay > 0 then
          make_ready(Q, id, r, NOW + delay)
          delay_notice(Q, id)
        else
          woke = woke + make_ready(Q, id, r, 0)
        end
      else
        r[F_WORKER] = ""
        woke = woke + make_ready(Q, id, r, 0)
      end
    end
  end
end
flush(zrem)
flush(hset)
flush(zadd)
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
