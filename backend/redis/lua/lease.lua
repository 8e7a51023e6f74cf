-- lease.lua: promotes due delayed jobs, recovers expired leases, then
-- moves up to max waiting jobs to active under fresh lease tokens. Leasing
-- the current iteration of a scheduler creates the next one.
--
--- @include transitions, flows, schedulers
--
-- KEYS: one queue key set (NK keys, see layout.lua), then the reply key.
-- ARGV: [1..4] now, event count, event age, reply TTL; [5] queue name;
--   [6] max; [7] lease ttl ms; [8] max stalled; [9] worker name; [10]
--   token prefix (the call's request ID and "-": the token of the k-th job
--   is prefix .. k).
-- Returns: {next, outbox, id1, job1, hot1, children1, ...}: next is the
--   earliest due time of a delayed job or lease expiry in ms, or when
--   the queue's limits next let a waiting job start if they kept this
--   call from taking one (0: none),
--   outbox the length of the queue's outbox, then for each leased job its
--   ID, job record, hot record and its children (see children in
--   flows.lua). A resend gets the jobs the first run leased that are
--   still active under this call's tokens, as they are now; the first run
--   kept their IDs, as a record.

local Q = keyset(1, ARGV[5])
local max = tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local maxStalled = tonumber(ARGV[8])
local worker = ARGV[9]
local prefix = ARGV[10]

-- head sets the first two values of the reply: the earliest due time
-- (or later, when the limits next allow a start, if earlier) and the
-- outbox length.
local function head(out, later)
  local nd = redis.call("ZRANGE", Q.d, 0, 0, "WITHSCORES")
  local na = redis.call("ZRANGE", Q.a, 0, 0, "WITHSCORES")
  local nxt = 0
  if nd[2] then nxt = tonumber(nd[2]) end
  if na[2] and (nxt == 0 or tonumber(na[2]) < nxt) then nxt = tonumber(na[2]) end
  if later and later > 0 and (nxt == 0 or later < nxt) then nxt = later end
  out[1] = nxt
  out[2] = redis.call("LLEN", Q.o)
  trim_events(Q)
  return out
end

local kept = replayed()
if kept then
  local out = {0, 0}
  for k, id in ipairs(dec(kept)) do
    local s = redis.call("HGET", Q.j, id)
    local hs = redis.call("HGET", Q.h, id)
    if s and hs then
      local h = dec(hs)
      if state_of(h) == ST_ACTIVE and h[H_TOKEN] == prefix .. k then
        out[#out + 1] = id
        out[#out + 1] = s
        out[#out + 1] = hs
        out[#out + 1] = children(Q, id, dec(s, J_DATA))
      end
    end
  end
  return done(head(out))
end

local woke = 0

-- Due delayed jobs become waiting, at the back of their line.
for _, id in ipairs(redis.call("ZRANGEBYSCORE", Q.d, "-inf", NOW, "LIMIT", 0, 1000)) do
  redis.call("ZREM", Q.d, id)
  local c, h = getjob(Q, id)
  if c then
    woke = woke + announce(Q, id, c, h, 0, false)
  end
end

-- Expired leases: stalled, then waiting at the front of their line, or
-- failed.
for _, id in ipairs(redis.call("ZRANGEBYSCORE", Q.a, "-inf", NOW, "LIMIT", 0, 1000)) do
  local c, h = getjob(Q, id)
  if not c then
    redis.call("ZREM", Q.a, id)
  else
    leave_active(Q, id, c)
    h[H_STALLED] = num(h[H_STALLED]) + 1
    h[H_WORKER] = ""
    clear_lease(h)
    job_event(Q, "stalled", id, c, h)
    local cancel = cancelled(h)
    if h[H_STALLED] > maxStalled or cancel then
      -- The attempt that started and was lost counts.
      h[H_MADE] = num(h[H_MADE]) + 1
      finish(Q, id, c, h, ST_FAILED, nil, cancel or STALLED_REASON, nil)
      wake(Q, 0, 1)
    else
      woke = woke + announce(Q, id, c, h, 0, true)
    end
  end
end

local out = {0, 0}
local leased = {}
-- The limits: lim.left is how many jobs they let start, and lim.later
-- when they next let one start if they let none now.
local lim = limits.of(Q)
lim.left, lim.later = limits.room(Q, lim)
if lim.groups then
  -- The groups whose rate limit lets them start again are back in the
  -- ring.
  groups.wake(Q)
end
if not lim.paused and lim.left > 0 then
  local ids = take_ready(Q, math.min(max, lim.left))
  if #ids > 0 then
    local recs = redis.call("HMGET", Q.j, unpack(ids))
    local hots = redis.call("HMGET", Q.h, unpack(ids))
    local exp = string.format("%d", NOW + ttl)
    local hset, zadd = batch("HSET", Q.h), batch("ZADD", Q.a)
    -- The hot record of a job leased for the first time, around its token.
    local fresh = {}
    fresh[H_STATE], fresh[H_LEASE_EXPIRES], fresh[H_WORKER], fresh[H_PROCESSED] = ST_ACTIVE, exp, worker, NOWS
    local pre, post = around(fresh, H_N, H_TOKEN)
    for i, id in ipairs(ids) do
      local s = recs[i]
      if s then
        local k = #leased + 1
        leased[k] = id
        local tok = prefix .. istr(k)
        local h, hs
        if hots[i] then
          h = dec(hots[i])
          h[H_STATE], h[H_TOKEN], h[H_LEASE_EXPIRES] = ST_ACTIVE, tok, exp
          h[H_WORKER], h[H_PROCESSED] = worker, NOWS
          hs = enc(h, H_N)
        else
          h = fresh
          hs = pre .. LP[#tok] .. tok .. post
        end
        push(hset, id, hs)
        push(zadd, exp, id)
        out[#out + 1] = id
        out[#out + 1] = s
        out[#out + 1] = hs
        local name = plain_name(s)
        if name then
          event(Q, "active", id, name, h[H_MADE], "")
          out[#out + 1] = ""
        else
          local c = dec(s, J_DATA)
          job_event(Q, "active", id, c, h)
          out[#out + 1] = children(Q, id, c)
          local sid = c[J_SCHEDULER]
          if sid and sid ~= "" then
            -- The current iteration of a scheduler creates the next one.
            flush(hset)
            flush(zadd)
            next_iteration(Q, sid, id)
          end
        end
      end
    end
    flush(hset)
    flush(zadd)
  end
end
lim.left = lim.left - #leased
if lim.rate > 0 and #leased > 0 then
  -- The starts count against the rate, each named by its lease token.
  local toks = {}
  for k = 1, #leased do
    toks[k] = prefix .. istr(k)
  end
  window.started(window.queue(Q, lim.rate, lim.per), toks)
end

if woke > 0 then
  wake(Q, woke)
end
local ready = count_ready(Q)
if #leased > 0 and ready == 0 then
  -- The queue had waiting jobs and has none now: once per idle period.
  emit(Q, {type = "drained"})
end
-- Tokens for as many leasers as can take a job now, and one more.
local startable = limits.startable(Q, lim, ready, lim.left)
if startable <= 0 then
  redis.call("DEL", Q.wake)
else
  redis.call("LTRIM", Q.wake, 0, startable)
end
local keep = nil
if #leased > 0 then
  keep = enclist(leased)
end
if #leased > 0 or ready == 0 or lim.paused then
  lim.later = 0
elseif lim.groups then
  -- Jobs wait that the groups' rate limits keep back: look again when
  -- the first group may start one.
  local gw = groups.next_wake(Q)
  if gw > 0 and (lim.later == 0 or gw < lim.later) then
    lim.later = gw
  end
end
return done(head(out, lim.later), keep)
