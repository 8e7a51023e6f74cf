-- flows.lua: a flow child's end told to its parent: the Lua twin of the
-- bbolt store's childEnded. A parent's pending dependencies are fields of
-- the deps hash, parent ID "\n" child ref, "" while pending and the
-- child's outcome (O_ fields) once it ended; a dropped dependency has no
-- field. The parent's hot record counts the pending ones (H_PENDING), so
-- a child's end costs the same however many siblings it has.
--
--- @requires base, record, order, events, wake, transitions

-- child_ended applies the end of the child cref to parent pid of this
-- queue. state is "completed", "failed" or "removed" (the dependency is
-- dropped).
local function child_ended(Q, pid, cref, state, result, reason, policy)
  local dep = pid .. "\n" .. cref
  -- A notice for a child that is not pending (ended, dropped, detached)
  -- changes nothing.
  if redis.call("HGET", Q.deps, dep) ~= "" then
    return
  end
  -- The parent's job record lists every child: it is read only when the
  -- parent moves, so that a child's end costs the same however many
  -- siblings it has.
  if redis.call("HEXISTS", Q.j, pid) == 0 then
    return
  end
  local h = dec(redis.call("HGET", Q.h, pid) or "")
  local c = setmetatable({}, {__index = function(t, k)
    local full = dec(redis.call("HGET", Q.j, pid), J_DATA)
    setmetatable(t, nil)
    for i = 1, J_N do
      rawset(t, i, full[i])
    end
    return full[k]
  end})
  local waiting = state_of(h) == ST_WAITING_CHILDREN
  local pending = num(h[H_PENDING]) - 1
  h[H_PENDING] = pending
  local ready = false
  if state == "removed" or (state == "failed" and policy == "remove") then
    redis.call("HDEL", Q.deps, dep)
    ready = pending <= 0
  elseif state == "completed" then
    local o = {}
    o[O.STATE], o[O.RESULT] = ST_COMPLETED, result
    redis.call("HSET", Q.deps, dep, enc(o, O.N))
    ready = pending <= 0
  else
    local o = {}
    o[O.STATE], o[O.REASON] = ST_FAILED, reason
    if policy == "ignore" or policy == "continue" then
      o[O.IGNORED] = "1"
    end
    redis.call("HSET", Q.deps, dep, enc(o, O.N))
    if policy == "ignore" then
      ready = pending <= 0
    elseif policy == "continue" then
      ready = true
    elseif waiting then
      local q, cid = unref(cref)
      redis.call("ZREM", Q.wc, pid)
      finish(Q, pid, c, h, ST_FAILED, nil, "child " .. q .. "/" .. cid .. " failed: " .. reason, nil)
      return
    end
  end
  if ready and waiting then
    redis.call("ZREM", Q.wc, pid)
    if announce(Q, pid, c, h, num(h[H_RUN_AT]), false) == 1 then
      wake(Q, 1)
    end
  else
    puthot(Q, pid, h)
  end
end

-- notify_parent reports a child's end to its parent: at once when the
-- parent is in this queue, else through this queue's outbox.
notify_parent = function(Q, pq, pid, cref, state, result, reason, policy)
  if pq == Q.name then
    child_ended(Q, pid, cref, state, result, reason, policy)
  else
    redis.call("RPUSH", Q.o, enclist({pq, pid, cref, state, result, reason, policy}))
  end
end

-- children returns what the deps hash says of each child of job id (c
-- its job record), for the Go side: a list of one field per child, "x"
-- for a dropped dependency, "p" for a pending one, else "e" and the
-- outcome.
local function children(Q, id, c)
  local kids = c[J_CHILDREN]
  if kids == nil or kids == "" then
    return ""
  end
  local refs = dec(kids)
  local fields = {}
  for i, k in ipairs(refs) do
    fields[i] = id .. "\n" .. k
  end
  local out = {}
  for i = 1, #fields, 1000 do
    local part = redis.call("HMGET", Q.deps, unpack(fields, i, math.min(i + 999, #fields)))
    for k = 1, #part do
      local v = part[k]
      if not v then
        out[i + k - 1] = "x"
      elseif v == "" then
        out[i + k - 1] = "p"
      else
        out[i + k - 1] = "e" .. v
      end
    end
  end
  return enclist(out)
end
