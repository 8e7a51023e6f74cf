-- order.lua: the ready order. Waiting jobs of priority 0 are the list w,
-- run from its head; those of a higher priority number the sorted set p,
-- scored by priority and then place (PRIORITY_SHIFT, ORDER_HALF). A job
-- that becomes ready (added, promoted, due again after a retry, a parent
-- whose children ended) goes to the back of its line, and one recovered
-- from a stalled worker or released to the front. In a queue in grouped
-- mode (groups.lua) every waiting job is in p, whatever its priority, so
-- that its score places it in its group's line too; w is empty.
--
--- @requires base, record, window, groups

-- place returns the score of a new place in the line of priority prio:
-- at its back, or at its front.
local function place(Q, prio, front)
  if front then
    local n = redis.call("HINCRBY", Q.meta, "front", 1)
    return prio * PRIORITY_SHIFT + (ORDER_HALF - 1 - (n - 1) % ORDER_HALF)
  end
  local n = redis.call("HINCRBY", Q.meta, "back", 1)
  return prio * PRIORITY_SHIFT + ORDER_HALF + (n - 1) % ORDER_HALF
end

-- grouped reports whether queue Q is in grouped mode, with enter set
-- putting it in grouped mode first: its waiting jobs of priority 0 move
-- from w to the back of their line in p, in order, and every waiting job
-- goes in the line of the jobs without a group.
local function grouped(Q, enter)
  local lim = limits.of(Q)
  if lim.groups or not enter then
    return lim.groups
  end
  redis.call("HSET", Q.meta, "groups", "1")
  lim.groups = true
  local ids = redis.call("LRANGE", Q.w, 0, -1)
  if #ids > 0 then
    local b = batch("ZADD", Q.p)
    for _, id in ipairs(ids) do
      push(b, place(Q, 0, false), id)
    end
    flush(b)
    redis.call("DEL", Q.w)
  end
  groups.enter(Q)
  return true
end

-- push_ready puts job id, whose job record is c, in the line of its
-- priority (at its front with front), and in grouped mode in its
-- group's line.
local function push_ready(Q, id, c, front)
  local prio = num(c[J_PRIORITY])
  local name = groups.of(c)
  if grouped(Q, name ~= GROUPS.UNGROUPED) then
    local score = place(Q, prio, front)
    redis.call("ZADD", Q.p, score, id)
    groups.ready(Q, name, id, score, 1)
  elseif prio == 0 then
    if front then
      redis.call("LPUSH", Q.w, id)
    else
      redis.call("RPUSH", Q.w, id)
    end
  else
    redis.call("ZADD", Q.p, place(Q, prio, front), id)
  end
end

-- unready takes waiting job id, of priority prio and whose job record is
-- c, out of its line.
local function unready(Q, id, prio, c)
  if limits.of(Q).groups then
    local score = redis.call("ZSCORE", Q.p, id)
    if score then
      redis.call("ZREM", Q.p, id)
      groups.ready(Q, groups.of(c), id, tonumber(score), -1)
    end
  elseif prio == 0 then
    redis.call("LREM", Q.w, 1, id)
  else
    redis.call("ZREM", Q.p, id)
  end
end

-- count_ready returns the number of waiting jobs.
local function count_ready(Q)
  return redis.call("LLEN", Q.w) + redis.call("ZCARD", Q.p)
end

-- take_ready takes up to max waiting jobs, in order, out of their lines;
-- in grouped mode the next of each group in turn (groups.take).
local function take_ready(Q, max)
  if limits.of(Q).groups then
    return groups.take(Q, max)
  end
  local ids = redis.call("LPOP", Q.w, max) or {}
  if #ids < max then
    -- The first ids, then their removal by rank: unlike ZPOPMIN this
    -- does not carry every score into Lua.
    local more = redis.call("ZRANGE", Q.p, 0, max - #ids - 1)
    if #more > 0 then
      redis.call("ZREMRANGEBYRANK", Q.p, 0, #more - 1)
      for _, id in ipairs(more) do
        ids[#ids + 1] = id
      end
    end
  end
  return ids
end

-- list_ready returns the waiting jobs from offset on, at most limit of
-- them (-1: all), in the order they will run.
local function list_ready(Q, offset, limit)
  local n0 = redis.call("LLEN", Q.w)
  local ids = {}
  if offset < n0 then
    local stop = -1
    if limit >= 0 then
      stop = offset + limit - 1
    end
    ids = redis.call("LRANGE", Q.w, offset, stop)
  end
  if limit < 0 or #ids < limit then
    local from = math.max(offset - n0, 0)
    local stop = -1
    if limit >= 0 then
      stop = from + limit - #ids - 1
    end
    for _, id in ipairs(redis.call("ZRANGE", Q.p, from, stop)) do
      ids[#ids + 1] = id
    end
  end
  return ids
end
