-- lease.lua: promotes due delayed jobs, recovers expired leases, then
-- moves up to max waiting jobs to active under fresh lease tokens. Leasing
-- the current iteration of a scheduler creates the next one.
--
-- KEYS: one queue key set (NK keys, see lib.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] max; [7] lease ttl ms; [8] max stalled; [9] worker name; [10] token
--   prefix (unique per call; the token of the k-th job is prefix .. k).
-- Returns: {next, outbox, id1, record1, id2, record2, ...}: next is the
--   earliest due time of a delayed job or lease expiry in ms (0: none),
--   outbox the length of the queue's outbox, then the leased jobs. A call
--   that leased jobs keeps their ids, in order; a resend of it returns
--   those still held under its tokens, with their records as they are now.

local Q = keyset(1, ARGV[5])
local max = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local maxStalled = tonumber(ARGV[8])
local worker = ARGV[9]
local prefix = ARGV[10]

-- finish sets the earliest due time and the outbox length of a reply.
local function finish(out)
  local nd = redis.call("ZRANGE", Q.d, 0, 0, "WITHSCORES")
  local na = redis.call("ZRANGE", Q.a, 0, 0, "WITHSCORES")
  local nxt = 0
  if nd[2] then nxt = tonumber(nd[2]) end
  if na[2] and (nxt == 0 or tonumber(na[2]) < nxt) then nxt = tonumber(na[2]) end
  out[1] = nxt
  out[2] = redis.call("LLEN", Q.o)
  return out
end

local kept = replayed()
if kept then
  local ids, out = dec(kept), {0, 0}
  local recs = redis.call("HMGET", Q.j, unpack(ids))
  for k, id in ipairs(ids) do
    local s = recs[k]
    if s and string.sub(s, 1, 1) == "a" and decjob(s)[F_TOKEN] == prefix .. istr(k) then
      out[#out + 1] = id
      out[#out + 1] = s
    end
  end
  return done(finish(out))
end

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
      -- The attempt that started and was lost counts.
      r[F_MADE] = num(r[F_MADE]) + 1
      fail_job(Q, id, r, STALLED_REASON, nil)
    else
      woke = woke + make_ready(Q, id, r, 0)
    end
  end
end

local out, leased = {0, 0}, {}
if redis.call("HGET", Q.meta, "paused") ~= "1" then
  -- The first max ids, then their removal by rank: unlike ZPOPMIN this
  -- does not carry every score into Lua.
  local ids = redis.call("ZRANGE", Q.w, 0, max - 1)
  if #ids > 0 then
    redis.call("ZREMRANGEBYRANK", Q.w, 0, #ids - 1)
  end
  local recs = {}
  if #ids > 0 then
    recs = redis.call("HMGET", Q.j, unpack(ids))
  end
  local exp = NOW + ttl
  local pnow, pexp, wfield, sexp = t14(NOW), t14(exp), lp(worker), istr(exp)
  local hset, zadd = batch("HSET", Q.j), batch("ZADD", Q.a)
  local EV_ACTIVE = EV_CODE.active
  local k = 0
  for i, id in ipairs(ids) do
    local s = recs[i]
    if s then
      k = k + 1
      leased[k] = LP[#id] .. id
      local tok = prefix .. istr(k)
      if (string.byte(s, 2) - 48) % 2 == 0 then
        -- No scheduler: splice the header and the token and worker
        -- fields, which lead the body.
        local c = string.find(s, ":", HDR + 1, true)
        local e = c + tonumber(string.sub(s, HDR + 1, c - 1))
        c = string.find(s, ":", e + 1, true)
        local e2 = c + tonumber(string.sub(s, e + 1, c - 1))
        c = string.find(s, ":", e2 + 1, true)
        local name = string.sub(s, c + 1, c + tonumber(string.sub(s, e2 + 1, c - 1)))
        local ns = "a" .. string.sub(s, 2, 36) .. pnow .. string.sub(s, 51, 64) .. pexp .. LP[#tok] .. tok .. wfield ..
          string.sub(s, e2 + 1)
        push(hset, id, ns)
        push(zadd, sexp, id)
        event(Q, EV_ACTIVE, id, name, istr(tonumber(string.sub(s, 3, 12))), "")
        out[#out + 1] = id
        out[#out + 1] = ns
      else
        flush(hset)
        flush(zadd)
        local r = decjob(s)
        r[F_STATE] = "active"
        r[F_TOKEN] = tok
        r[F_LEXP] = exp
        r[F_WORKER] = worker
        r[F_PROC] = NOW
        redis.call("ZADD", Q.a, exp, id)
        putjob(Q, id, r)
        emitjob(Q, "active", id, r)
        out[#out + 1] = id
        out[#out + 1] = encjob(r)
        -- The current iteration of a scheduler creates the next one.
        local sid = r[F_SCHED]
        local raw = sid ~= "" and redis.call("HGET", Q.s, sid)
        if raw then
          local sc = dec(raw)
          if "repeat:" .. sid .. ":" .. sc[S_NEXT] == id then
            local up = dec(sc[S_UPCOMING])
            sc[S_NEXT] = table.remove(up, 1) or "0"
            sc[S_UPCOMING] = enclist(up)
            sc = iteration(Q, sc)
            sc[S_REV] = num(sc[S_REV]) + 1
            sc[S_UPDATED] = NOW
            if sched_done(sc) then
              redis.call("HDEL", Q.s, sid)
              emit(Q, "scheduler-removed", nil, nil, nil, nil, nil, nil, nil, sid, nil)
            else
              redis.call("HSET", Q.s, sid, enc(sc, NS))
            end
          end
        end
      end
    end
  end
  flush(hset)
  flush(zadd)
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

trim_events(Q)
-- A lease of no job keeps nothing (kept is nil here): a resend of it is
-- a new lease.
if #leased > 0 then
  kept = concat(leased)
end
return done(finish(out), kept)
