-- wake.lua: wake tokens for idle leasers, who wait on BLPOP of the wake
-- list, and the queue limits that bound them (window.lua).
--
-- A rate-limited queue keeps its last starts, at most rate of them, in
-- the sorted set st (window.queue).
--
--- @requires base, window, groups, order

-- limits.room returns how many jobs the limits lim let start now
-- (math.huge: no bound), and when none may, the time (ms) the hold or the
-- rate limit next allows one (0 when only the end of an active job can).
function limits.room(Q, lim)
  if not lim.set then
    return math.huge, 0
  end
  if NOW < lim.hold then
    return 0, lim.hold
  end
  local n = math.huge
  if lim.conc > 0 then
    n = math.max(lim.conc - redis.call("ZCARD", Q.a), 0)
  end
  if lim.rate > 0 then
    local free, later = window.room(window.queue(Q, lim.rate, lim.per))
    if free == 0 then
      return 0, later
    end
    n = math.min(n, free)
  end
  return n, 0
end

-- limits.startable returns how many of ready waiting jobs may start now:
-- no more than the queue's limits lim let start (left), nor in grouped
-- mode than the groups may start.
function limits.startable(Q, lim, ready, left)
  local n = math.min(ready, left)
  if lim.groups and n > 0 then
    n = math.min(n, groups.room(Q))
  end
  return n
end

-- limits.hold holds the queue's jobs from starting until till (ms),
-- unless a hold ends as late already; it returns whether it held them.
-- Leasers woken before it ends would find nothing: their tokens go.
function limits.hold(Q, till)
  if till <= num(redis.call("HGET", Q.meta, "hold")) then
    return false
  end
  redis.call("HSET", Q.meta, "hold", string.format("%d", till))
  Q.lim = nil
  redis.call("DEL", Q.wake)
  return true
end

-- wake lets up to n idle leasers through: one token each, at most as many
-- tokens as ready jobs the queue's limits (and in grouped mode its
-- groups) let start now, plus one (a notice of an earlier due time) when
-- they do not bound it. freed, if given, is the number of jobs that left
-- active: with a concurrency limit, of the queue or of a group, each may
-- let a waiting job start.
local function wake(Q, n, freed)
  local lim = limits.of(Q)
  if lim.paused then
    return
  end
  if freed and (lim.conc > 0 or lim.groups) then
    n = n + freed
  end
  if n <= 0 then
    return
  end
  local cap = limits.startable(Q, lim, count_ready(Q) + 1, (limits.room(Q, lim)))
  if n > cap then
    n = cap
  end
  local b = {}
  for i = 1, n do
    b[#b + 1] = "1"
    if #b == 1000 or i == n then
      redis.call("LPUSH", Q.wake, unpack(b))
      b = {}
    end
  end
  if cap > 0 then
    redis.call("LTRIM", Q.wake, 0, cap - 1)
  else
    redis.call("DEL", Q.wake)
  end
end

-- delay_notice wakes one idle leaser when job id became the earliest
-- delayed job, so that it waits until the new earliest due time. The
-- notice goes through whatever the limits: the leaser learns the due time
-- even while they keep it from taking a job.
local function delay_notice(Q, id)
  if redis.call("ZRANGE", Q.d, 0, 0)[1] ~= id then
    return
  end
  if not limits.of(Q).paused then
    redis.call("LPUSH", Q.wake, "1")
    redis.call("LTRIM", Q.wake, 0, count_ready(Q))
  end
end

