-- window.lua: a queue's limits as its meta hash holds them, and the
-- sliding window of a rate limit: the one rule for the rate limits of
-- queues and of groups.
--
-- A queue's limits are fields of its meta hash: conc (Limits.Concurrency),
-- rate and per (Limits.Rate and RatePer, ms), hold (the end of a hold, ms;
-- kept after it ended) and groups ("1" once the queue is in grouped mode,
-- see groups.lua).
--
--- @requires base

-- limits holds the functions of queue limits: one local, for a script
-- may have at most 200.
local limits = {}

-- limits.of returns the queue's pause flag, limits and grouped mode, read
-- from its meta hash in one call (every lease makes it) and then kept
-- for the rest of the call in Q.lim: {paused, set, conc, rate, per, hold,
-- groups}, set false (and the numbers 0) when the queue has no limits. A
-- script that writes one of these fields clears Q.lim.
function limits.of(Q)
  local lim = Q.lim
  if lim then
    return lim
  end
  local m = redis.call("HMGET", Q.meta, "paused", "conc", "rate", "per", "hold", "groups")
  lim = {paused = m[1] == "1", set = (m[2] or m[3] or m[5]) ~= nil,
    conc = num(m[2]), rate = num(m[3]), per = num(m[4]), hold = num(m[5]), groups = m[6] == "1"}
  Q.lim = lim
  return lim
end

-- limits.put writes a Limits as the meta fields names (concurrency,
-- rate and rate period ms), from the values given as strings; a 0 is no
-- field. The limits read in this call are read again.
function limits.put(Q, names, conc, rate, per)
  for i, v in ipairs({conc, rate, per}) do
    if v == "0" then
      redis.call("HDEL", Q.meta, names[i])
    else
      redis.call("HSET", Q.meta, names[i], v)
    end
  end
  Q.lim, Q.glim = nil, nil
end

-- window holds the sliding windows of rate limits. A window w is a table
-- of its rate and period (ms) and of the functions over the starts it
-- keeps: w.count(since) is the number of starts after since, w.nth(k) the
-- time of the k-th newest start, w.add(members) records starts at NOW
-- (one per member given), and w.trim() drops the starts that can no
-- longer count.
local window = {}

-- window.room returns how many jobs the rate limit of window w lets start
-- now, and when it lets none, the time (ms) it next lets one: a job may
-- start at NOW when fewer than rate started in (NOW - per, NOW], so once
-- the rate-th newest of those starts leaves the window.
function window.room(w)
  local free = w.rate - w.count(NOW - w.per)
  if free > 0 then
    return free, 0
  end
  return 0, w.nth(w.rate) + w.per
end

-- window.started records the starts of members (one each) in window w,
-- and trims it.
function window.started(w, members)
  if #members > 0 then
    w.add(members)
    w.trim()
  end
end

-- window.queue returns the window of a queue's rate limit: the sorted set
-- st, one member per start (the job's lease token) scored by its start
-- time, kept to the last rate starts.
function window.queue(Q, rate, per)
  return {rate = rate, per = per,
    count = function(since)
      return redis.call("ZCOUNT", Q.st, "(" .. since, "+inf")
    end,
    nth = function(k)
      return tonumber(redis.call("ZRANGE", Q.st, -k, -k, "WITHSCORES")[2])
    end,
    add = function(members)
      local b = batch("ZADD", Q.st)
      for _, m in ipairs(members) do
        push(b, NOWS, m)
      end
      flush(b)
    end,
    trim = function()
      redis.call("ZREMRANGEBYRANK", Q.st, 0, -rate - 1)
    end}
end

-- window.padded returns n as a zero-padded decimal of width digits (n
-- below 0 as 0), so that such strings sort as their numbers do.
function window.padded(n, digits)
  return string.format("%0" .. digits .. "d", math.max(n, 0))
end

-- window.seq returns the next number of the queue's gseq counter, which
-- numbers the places of the ring and the starts of groups (groups.lua).
-- The counter is read once per call and counted in Q.gseq;
-- window.seq_flush writes it back.
function window.seq(Q)
  local n = Q.gseq
  if not n then
    n = num(redis.call("HGET", Q.meta, "gseq"))
  end
  n = n + 1
  Q.gseq, Q.gseqw = n, true
  return n
end

-- window.seq_flush writes the gseq counter, if window.seq moved it.
function window.seq_flush(Q)
  if Q.gseqw then
    redis.call("HSET", Q.meta, "gseq", string.format("%d", Q.gseq))
    Q.gseqw = nil
  end
end

-- window.group returns the window of group name's rate limit: the members
-- 's' name 0x00 time 0x00 n of the queue's group index (see groups.lua),
-- one per start within the rate period, n from the queue's gseq counter
-- (window.seq) so that starts at the same time differ.
function window.group(Q, name, rate, per)
  local pre = "s" .. name .. "\0"
  local last = "(s" .. name .. "\1"
  return {rate = rate, per = per,
    count = function(since)
      return redis.call("ZLEXCOUNT", Q.gx, "(" .. pre .. window.padded(since, GROUPS.TIME_DIGITS) .. "\255", last)
    end,
    nth = function(k)
      local m = redis.call("ZREVRANGEBYLEX", Q.gx, last, "[" .. pre, "LIMIT", k - 1, 1)[1]
      return tonumber(string.sub(m, #pre + 1, #pre + GROUPS.TIME_DIGITS))
    end,
    add = function(members)
      local at = pre .. window.padded(NOW, GROUPS.TIME_DIGITS) .. "\0"
      local b = batch("ZADD", Q.gx)
      for _ = 1, #members do
        push(b, "0", at .. window.seq(Q))
      end
      flush(b)
    end,
    trim = function()
      redis.call("ZREMRANGEBYLEX", Q.gx, "[" .. pre, "[" .. pre .. window.padded(NOW - per, GROUPS.TIME_DIGITS) .. "\255")
    end}
end
