-- groups.lua: the groups of a queue, the Lua twin of the bbolt store's
-- groups.go. A queue is in grouped mode from its first job with a group
-- on (the meta field groups; see enter_grouped in order.lua). From then,
-- every waiting job is in p (whatever its priority) as well as in its
-- group's line, and a lease takes the next job of the group at the front
-- of the ring of groups that may start a job now, then moves that group
-- to the back. Jobs without a group are the group GROUPS.UNGROUPED. A
-- group leaves the ring when it has no job ready, is paused or at its
-- concurrency limit, or (until its wake entry brings it back) at its
-- rate limit.
--
-- Each group has a record in the g hash (G fields), and entries in the
-- group index gx, a sorted set whose members all score 0 and so sort by
-- their bytes: 'n' name (the groups by name), 'l' name 0x00 score id (the
-- lines: score is the job's score in p, so a line runs in the order of
-- p), 'r' place name (the ring), 'w' time name (the wake entries) and 's'
-- name 0x00 time 0x00 n (the starts of rate-limited groups, see
-- window.group). Group names have no control characters, so 0x00 ends
-- one. The meta hash holds the limits of each group (gconc, grate, gper),
-- the counter of ring places and starts (gseq), and groom, the sum of
-- the groups' rooms: how many jobs the groups may start now, which bounds
-- the wake tokens (wake.lua).
--
-- The index hooks, groups.ready and groups.active, keep all of it in
-- step with every move of a job: order.lua and transitions.lua call them
-- wherever a job enters or leaves waiting or active.
--
--- @requires base, record, window

-- groups holds the functions of groups: one local, for a script may have
-- at most 200.
local groups = {}

-- groups.of returns the group of a job whose job record is c: its
-- group, or UNGROUPED for a job without one.
function groups.of(c)
  local name = c[J_GROUP]
  if name == nil or name == "" then
    return GROUPS.UNGROUPED
  end
  return name
end

-- groups.limits returns the limits of each group, read once per call:
-- {conc, rate, per}.
function groups.limits(Q)
  local gl = Q.glim
  if not gl then
    local m = redis.call("HMGET", Q.meta, "gconc", "grate", "gper")
    gl = {conc = num(m[1]), rate = num(m[2]), per = num(m[3])}
    Q.glim = gl
  end
  return gl
end

-- groups.get returns group name's record as a table (fields G, and known
-- set when the group has a record in g), read once per call.
function groups.get(Q, name)
  local cache = Q.groups
  if not cache then
    cache = {}
    Q.groups = cache
  end
  local g = cache[name]
  if not g then
    local s = redis.call("HGET", Q.g, name)
    g = dec(s or "")
    g.known = s ~= false and s ~= nil
    cache[name] = g
  end
  return g
end

-- groups.line returns the member of job id, of score score (its score in
-- p), in the line of group name.
function groups.line(name, id, score)
  return "l" .. name .. "\0" .. window.padded(score, GROUPS.PLACE_DIGITS) .. id
end

-- groups.put writes g, the record of group name, after a change, and
-- puts the group in the ring (at its back), takes it out, or gives it a
-- wake entry for when its rate limit next lets it start, as it now may
-- or may not start a job; with rotate set, a group in the ring goes to
-- its back. A group with nothing left is forgotten, once the starts in
-- its rate window (if any) have left it: its wake entry says when.
function groups.put(Q, name, g, rotate)
  local gl = groups.limits(Q)
  local conc, rate = gl.conc, gl.rate
  if name == GROUPS.UNGROUPED then
    conc, rate = 0, 0 -- the group limits are those of the groups
  end
  local ready, active, paused = num(g[G.READY]), num(g[G.ACTIVE]), g[G.PAUSED] == "1"
  local may = ready > 0 and not paused
  local room = ready
  if conc > 0 then
    room = math.min(room, conc - active)
    may = may and room > 0
  end
  local wakeat = 0
  if rate > 0 then
    local w = window.group(Q, name, rate, gl.per)
    w.trim()
    local free, later = window.room(w)
    if may and free == 0 then
      may, wakeat = false, later
    elseif may then
      room = math.min(room, free)
    elseif ready == 0 and active == 0 and not paused and free < rate then
      wakeat = w.nth(1) + gl.per
    end
  end
  if not may then
    room = 0
  end
  local place = g[G.PLACE] or ""
  if place ~= "" and (rotate or not may) then
    redis.call("ZREM", Q.gx, "r" .. place .. name)
    place = ""
  end
  if may and place == "" then
    place = window.padded(redis.call("HINCRBY", Q.meta, "gseq", 1), GROUPS.PLACE_DIGITS)
    redis.call("ZADD", Q.gx, 0, "r" .. place .. name)
  end
  g[G.PLACE] = place
  local oldwake = num(g[G.WAKE])
  if oldwake ~= wakeat then
    if oldwake > 0 then
      redis.call("ZREM", Q.gx, "w" .. window.padded(oldwake, GROUPS.TIME_DIGITS) .. name)
    end
    if wakeat > 0 then
      redis.call("ZADD", Q.gx, 0, "w" .. window.padded(wakeat, GROUPS.TIME_DIGITS) .. name)
    end
    g[G.WAKE] = wakeat
  end
  local d = room - num(g[G.ROOM])
  if d ~= 0 then
    redis.call("HINCRBY", Q.meta, "groom", d)
    g[G.ROOM] = room
  end
  if ready == 0 and active == 0 and not paused and place == "" and wakeat == 0 then
    if g.known then
      redis.call("HDEL", Q.g, name)
      if name ~= GROUPS.UNGROUPED then
        redis.call("ZREM", Q.gx, "n" .. name)
      end
      g.known = false
    end
    return
  end
  if not g.known and name ~= GROUPS.UNGROUPED then
    redis.call("ZADD", Q.gx, 0, "n" .. name)
  end
  g.known = true
  redis.call("HSET", Q.g, name, enc(g, G.N))
end

-- groups.line_ids returns the IDs of the jobs of the line of group name
-- from offset on, at most limit of them (-1: all), in the order they
-- will start, and the members of the line they are.
function groups.line_ids(Q, name, offset, limit)
  local pre = "l" .. name .. "\0"
  local ms = redis.call("ZRANGEBYLEX", Q.gx, "[" .. pre, "(l" .. name .. "\1", "LIMIT", offset, limit)
  local ids = {}
  for i, m in ipairs(ms) do
    ids[i] = string.sub(m, #pre + GROUPS.PLACE_DIGITS + 1)
  end
  return ids, ms
end

-- groups.ready keeps group name (UNGROUPED for a job without one) in step
-- with waiting job id, of score score in p, entering (d = 1) or leaving
-- (d = -1) its line.
function groups.ready(Q, name, id, score, d)
  if d > 0 then
    redis.call("ZADD", Q.gx, 0, groups.line(name, id, score))
  else
    redis.call("ZREM", Q.gx, groups.line(name, id, score))
  end
  local g = groups.get(Q, name)
  g[G.READY] = num(g[G.READY]) + d
  groups.put(Q, name, g, false)
end

-- groups.active keeps group name in step with one of its jobs entering
-- (d = 1) or leaving (d = -1) active. The jobs without a group are not
-- counted: no group limit applies to them.
function groups.active(Q, name, d)
  if name == GROUPS.UNGROUPED then
    return
  end
  local g = groups.get(Q, name)
  g[G.ACTIVE] = num(g[G.ACTIVE]) + d
  groups.put(Q, name, g, false)
end

-- groups.enter puts the waiting jobs of a queue entering grouped mode,
-- all in p and none of them with a group yet, in the line of the jobs
-- without a group.
function groups.enter(Q)
  local name = GROUPS.UNGROUPED
  local g = groups.get(Q, name)
  local n = 0
  while true do
    local page = redis.call("ZRANGE", Q.p, n, n + 999, "WITHSCORES")
    if #page == 0 then
      break
    end
    local b = batch("ZADD", Q.gx)
    for i = 1, #page, 2 do
      push(b, 0, groups.line(name, page[i], tonumber(page[i + 1])))
    end
    flush(b)
    n = n + #page / 2
  end
  g[G.READY] = num(g[G.READY]) + n
  groups.put(Q, name, g, false)
end

-- groups.wake brings the groups whose wake entry is due back to the ring
-- (or forgets them).
function groups.wake(Q)
  local due = redis.call("ZRANGEBYLEX", Q.gx, "[w", "(w" .. window.padded(NOW + 1, GROUPS.TIME_DIGITS), "LIMIT", 0, 1000)
  for _, m in ipairs(due) do
    local name = string.sub(m, GROUPS.TIME_DIGITS + 2)
    local g = groups.get(Q, name)
    redis.call("ZREM", Q.gx, m)
    g[G.WAKE] = ""
    groups.put(Q, name, g, false)
  end
end

-- groups.next_wake returns the time (ms) of the first wake entry, 0 when
-- there is none.
function groups.next_wake(Q)
  local m = redis.call("ZRANGEBYLEX", Q.gx, "[w", "(x", "LIMIT", 0, 1)[1]
  if not m then
    return 0
  end
  return tonumber(string.sub(m, 2, GROUPS.TIME_DIGITS + 1))
end

-- groups.room returns how many jobs the groups may start now (groom).
function groups.room(Q)
  return num(redis.call("HGET", Q.meta, "groom"))
end

-- groups.take takes up to max waiting jobs out of p and their lines, round
-- robin: each the first of the line of the group at the front of the
-- ring, which then goes to the back of it (or out). It counts them
-- active, and as starts of a rate-limited group, and returns their IDs.
function groups.take(Q, max)
  local ids = {}
  local gl = groups.limits(Q)
  while #ids < max do
    local r = redis.call("ZRANGEBYLEX", Q.gx, "[r", "(s", "LIMIT", 0, 1)[1]
    if not r then
      break
    end
    local name = string.sub(r, GROUPS.PLACE_DIGITS + 2)
    local first, ms = groups.line_ids(Q, name, 0, 1)
    local id = first[1]
    if not id then
      error("drover: group " .. name .. " of " .. Q.name .. " is in the ring with no job ready")
    end
    redis.call("ZREM", Q.gx, ms[1])
    redis.call("ZREM", Q.p, id)
    local g = groups.get(Q, name)
    g[G.READY] = num(g[G.READY]) - 1
    if name ~= GROUPS.UNGROUPED then
      g[G.ACTIVE] = num(g[G.ACTIVE]) + 1
      if gl.rate > 0 then
        window.group(Q, name, gl.rate, gl.per).add({id})
      end
    end
    groups.put(Q, name, g, true)
    ids[#ids + 1] = id
  end
  return ids
end
