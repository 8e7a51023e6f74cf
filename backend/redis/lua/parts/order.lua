-- order.lua: the ready order. Waiting jobs of priority 0 are the list w,
-- run from its head; those of a higher priority number the sorted set p,
-- scored by priority and then place (PRIORITY_SHIFT, ORDER_HALF). A job
-- that becomes ready (added, promoted, due again after a retry, a parent
-- whose children ended) goes to the back of its line, and one recovered
-- from a stalled worker or released to the front.
--
--- @requires base, record

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

-- push_ready puts job id in the line of its priority.
local function push_ready(Q, id, prio, front)
  if prio == 0 then
    if front then
      redis.call("LPUSH", Q.w, id)
    else
      redis.call("RPUSH", Q.w, id)
    end
  else
    redis.call("ZADD", Q.p, place(Q, prio, front), id)
  end
end

-- unready takes waiting job id out of its line.
local function unready(Q, id, prio)
  if prio == 0 then
    redis.call("LREM", Q.w, 1, id)
  else
    redis.call("ZREM", Q.p, id)
  end
end

-- count_ready returns the number of waiting jobs.
local function count_ready(Q)
  return redis.call("LLEN", Q.w) + redis.call("ZCARD", Q.p)
end

-- take_ready takes up to max waiting jobs, in order, out of their lines.
local function take_ready(Q, max)
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
