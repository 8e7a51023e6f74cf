-- lease.lua: promotes due delayed jobs, recovers expired leases, then
-- moves up to max waiting jobs to active under fresh lease tokens. Leasing
-- the current iteration of a scheduler creates the next one.
--
-- KEYS: one queue key set (NK keys, see lib.lua).
-- ARGV: [1..3] now, event count, event age; [4] queue name; [5] max;
--   [6] lease ttl ms; [7] max stalled; [8] worker name; [9] token prefix
--   (unique per call; the token of the k-th job is prefix .. k).
-- Returns: {next, outbox, id1, record1, id2, record2, ...}: next is the
--   earliest due time of a delayed job or lease expiry in ms (0: none),
--   outbox the length of the queue's outbox, then the leased jobs.

local Q = keyset(1, ARGV[4])
local max = tonumber(ARGV[5])
local ttl = tonumber(ARGV[6])
local maxStalled = tonumber(ARGV[7])
local worker = ARGV[8]
local prefix = ARGV[9]

local woke = 0

-- Due delayed jobs become waiting.
local due = redis.call("ZRANGEBYSCORE", Q.d, "-inf", NOW, "LIMIT", 0, 1000)
for _, id in ipairs(due) do
  redis.call("ZREM", Q.d, id)
  local r = getjob(Q, id)
  if r then
    woke = woke + make_ready(Q, id, r, 0)
  end
end

-- Expired leases: stalled, then waiting or failed.
local expired = redis.call("ZRANGEBYSCORE", Q.a, "-inf", NOW, "LIMIT", 0, 1000)
for _, id in ipairs(expired) do
  redis.call("ZREM", Q.a, id)
  local r = getjob(Q, id)
  if r then
    r[F_STALL] = num(r[F_STALL]) + 1
    r[F_TOKEN] = ""
    r[F_LEXP] = 0
    r[F_WORKER] = ""
    emitjob(Q, "stalled", id, r)
    if r[F_STALL] > maxStalled then
      fail_job(Q, id, r, "job stalled more than allowable limit", nil)
    else
      woke = woke + make_ready(Q, id, r, 0)
    end
  end
end

local out = {0, 0}
if redis.call("HGET", Q.meta, "paused") ~= "1" then
  local ids = redis.call("ZPOPMIN", Q.w, max)
  local k = 0
  for i = 1, #ids, 2 do
    local id = ids[i]
    local r = getjob(Q, id)
    if r then
      k = k + 1
      r[F_STATE] = "active"
      r[F_TOKEN] = prefix .. k
      r[F_LEXP] = NOW + ttl
      r[F_WORKER] = worker
      r[F_PROC] = NOW
      redis.call("ZADD", Q.a, NOW + ttl, id)
      putjob(Q, id, r)
      emitjob(Q, "active", id, r)
      out[#out + 1] = id
      out[#out + 1] = enc(r, NF)
      -- The current iteration of a scheduler creates the next one.
      local sid = r[F_SCHED]
      if sid ~= "" then
        local raw = redis.call("HGET", Q.s, sid)
        if raw then
          local s = dec(raw)
          if "repeat:" .. sid .. ":" .. s[S_NEXT] == id then
            local up = dec(s[S_UPCOMING])
            s[S_NEXT] = table.remove(up, 1) or "0"
            s[S_UPCOMING] = enclist(up)
            s = iteration(Q, s)
            s[S_REV] = num(s[S_REV]) + 1
            s[S_UPDATED] = NOW
            if sched_done(s) then
              redis.call("HDEL", Q.s, sid)
              emit(Q, "scheduler-removed", nil, nil, nil, nil, nil, nil, nil, sid, nil)
            else
              redis.call("HSET", Q.s, sid, enc(s, NS))
            end
          end
        end
      end
    end
  end
end

if woke > 0 then
  wake(Q, woke)
end
local ready = redis.call("ZCARD", Q.w)
if ready == 0 then
  redis.call("DEL", Q.wake)
else
  redis.call("LTRIM", Q.wake, 0, ready)
end

local nd = redis.call("ZRANGE", Q.d, 0, 0, "WITHSCORES")
local na = redis.call("ZRANGE", Q.a, 0, 0, "WITHSCORES")
local nxt = 0
if nd[2] then nxt = tonumber(nd[2]) end
if na[2] and (nxt == 0 or tonumber(na[2]) < nxt) then nxt = tonumber(na[2]) end
out[1] = nxt
out[2] = redis.call("LLEN", Q.o)
trim_events(Q)
return out
