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
-- p), 'w' time name (the wake entries) and 's' name 0x00 time 0x00 n (the
-- starts of rate-limited groups, see window.group). Group names have no
-- control characters, so 0x00 ends one. The ring is the sorted set gr of
-- the group names, scored by their place. The meta hash holds the limits
-- of each group (gconc, grate, gper), the counter of ring places and
-- starts (gseq), and groom, the sum of the groups' rooms: how many jobs
-- the groups may start now, which bounds the wake tokens (wake.lua).
--
-- The index hooks, groups.ready and groups.active, keep all of it in
-- step with every move of a job: order.lua and transitions.lua call them
-- wherever a job enters or leaves waiting or active. They change the
-- groups' records in the call (Q.groups); groups.flush writes them.
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

-- records returns the group records read so far in the call, by name.
local function records(Q)
  local cache = Q.groups
  if not cache then
    cache = {}
    Q.groups = cache
  end
  return cache
end

-- groups.get returns group name's record as a table (fields G, and known
-- set when the group has a record in g), read once per call.
function groups.get(Q, name)
  local cache = records(Q)
  local g = cache[name]
  if not g then
    g = groups.loaded(redis.call("HGET", Q.g, name))
    cache[name] = g
  end
  return g
end

-- groups.PATTERN matches a group's record: all its fields, joined by
-- GROUPS.SEP. (A function library is loaded without the string library:
-- plain concatenation builds it.)
groups.PATTERN = "^"
for _ = 2, G.N do
  groups.PATTERN = groups.PATTERN .. "([^" .. GROUPS.SEP .. "]*)" .. GROUPS.SEP
end
groups.PATTERN = groups.PATTERN .. "([^" .. GROUPS.SEP .. "]*)$"

-- groups.decode splits a group's record s into its fields ("" for the
-- record of no group).
function groups.decode(s)
  if s == "" then
    return {}
  end
  local g = {string.match(s, groups.PATTERN)}
  if #g ~= G.N then
    error("drover: bad group record " .. s)
  end
  return g
end

-- groups.loaded returns the record of a group as the g hash holds it (s,
-- false when it has none), with what the store has of it: its place,
-- wake time and room as written (splace, swake and sroom), from which
-- groups.flush writes the changes of its index entries and of groom.
-- Every lease and settle of a grouped job reads a record, so this makes
-- the table in one go; it and groups.encode name the fields in order.
function groups.loaded(s)
  if not s then
    return {known = false, splace = "", swake = 0, sroom = 0}
  end
  local ready, active, paused, place, wake, room = string.match(s, groups.PATTERN)
  if not room then
    error("drover: bad group record " .. s)
  end
  return {ready, active, paused, place, wake, room, known = true, splace = place, swake = num(wake), sroom = num(room)}
end

-- groups.encode joins the fields of group record g.
function groups.encode(g)
  local sep = GROUPS.SEP
  return istr(g[G.READY]) .. sep .. istr(g[G.ACTIVE]) .. sep .. istr(g[G.PAUSED]) .. sep .. istr(g[G.PLACE]) ..
    sep .. istr(g[G.WAKE]) .. sep .. istr(g[G.ROOM])
end

-- groups.fetch reads the records of the groups names not read yet in this
-- call, in one command: a script about to change many groups reads them
-- at once rather than one by one.
function groups.fetch(Q, names)
  local cache = records(Q)
  local want, seen = {}, {}
  for _, name in ipairs(names) do
    if not cache[name] and not seen[name] then
      seen[name] = true
      want[#want + 1] = name
    end
  end
  for i = 1, #want, 1000 do
    local j = math.min(i + 999, #want)
    local recs = redis.call("HMGET", Q.g, unpack(want, i, j))
    for k = i, j do
      cache[want[k]] = groups.loaded(recs[k - i + 1])
    end
  end
end

-- groups.line returns the member of job id, of score score (its score in
-- p), in the line of group name.
function groups.line(name, id, score)
  return "l" .. name .. "\0" .. window.padded(score, GROUPS.PLACE_DIGITS) .. id
end

-- groups.put updates g, the record of group name, after a change: it
-- puts the group in the ring (at its back), takes it out, or gives it a
-- wake entry for when its rate limit next lets it start, as it now may
-- or may not start a job; with rotate set, a group in the ring goes to
-- its back. A group with nothing left is forgotten, once the starts in
-- its rate window (if any) have left it: its wake entry says when. The
-- store has the change once groups.flush wrote it: at once, unless the
-- call defers the writes of its groups (Q.gdefer) to write those of many
-- jobs together.
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
    place = ""
  end
  if may and place == "" then
    place = string.format("%d", window.seq(Q))
  end
  g[G.PLACE], g[G.WAKE], g[G.ROOM] = place, wakeat, room
  local dirty = Q.gdirty
  if not dirty then
    dirty = {}
    Q.gdirty = dirty
  end
  if not dirty[name] then
    dirty[name] = true
    dirty[#dirty + 1] = name
  end
  if not Q.gdefer then
    groups.flush(Q)
  end
end

-- groups.flush writes the records of the groups changed since the last
-- flush, their entries in the ring, the wake entries and the names, the
-- change of groom, and the gseq counter (window.seq): a few commands
-- however many groups changed.
function groups.flush(Q)
  local dirty = Q.gdirty
  if dirty and #dirty > 0 then
    Q.gdirty = nil
    local zrem, zadd = batch("ZREM", Q.gx), batch("ZADD", Q.gx)
    local rrem, radd = batch("ZREM", Q.gr), batch("ZADD", Q.gr)
    local hset, hdel = batch("HSET", Q.g), batch("HDEL", Q.g)
    local groom = 0
    for _, name in ipairs(dirty) do
      local g = Q.groups[name]
      local place, wake, room = g[G.PLACE] or "", num(g[G.WAKE]), num(g[G.ROOM])
      if place ~= g.splace then
        if place ~= "" then
          push(radd, place, name)
        else
          push(rrem, name)
        end
      end
      if wake ~= g.swake then
        if g.swake > 0 then
          push(zrem, "w" .. window.padded(g.swake, GROUPS.TIME_DIGITS) .. name)
        end
        if wake > 0 then
          push(zadd, "0", "w" .. window.padded(wake, GROUPS.TIME_DIGITS) .. name)
        end
      end
      groom = groom + room - g.sroom
      g.splace, g.swake, g.sroom = place, wake, room
      if num(g[G.READY]) == 0 and num(g[G.ACTIVE]) == 0 and g[G.PAUSED] ~= "1" and place == "" and wake == 0 then
        if g.known then
          push(hdel, name)
          if name ~= GROUPS.UNGROUPED then
            push(zrem, "n" .. name)
          end
          g.known = false
        end
      else
        if not g.known and name ~= GROUPS.UNGROUPED then
          push(zadd, "0", "n" .. name)
        end
        g.known = true
        push(hset, name, groups.encode(g))
      end
    end
    flush(zrem)
    flush(zadd)
    flush(rrem)
    flush(radd)
    flush(hset)
    flush(hdel)
    if groom ~= 0 then
      redis.call("HINCRBY", Q.meta, "groom", string.format("%d", groom))
    end
  end
  window.seq_flush(Q)
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
    redis.call("ZADD", Q.gx, "0", groups.line(name, id, score))
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
      push(b, "0", groups.line(name, page[i], tonumber(page[i + 1])))
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
  groups.flush(Q)
  local due = redis.call("ZRANGEBYLEX", Q.gx, "[w", "(w" .. window.padded(NOW + 1, GROUPS.TIME_DIGITS), "LIMIT", "0", "1000")
  if #due == 0 then
    return
  end
  local names = {}
  for i, m in ipairs(due) do
    names[i] = string.sub(m, GROUPS.TIME_DIGITS + 2)
  end
  groups.fetch(Q, names)
  local defer = Q.gdefer
  Q.gdefer = true
  for _, name in ipairs(names) do
    groups.put(Q, name, groups.get(Q, name), false)
  end
  Q.gdefer = defer
  groups.flush(Q)
end

-- groups.next_wake returns the time (ms) of the first wake entry, 0 when
-- there is none.
function groups.next_wake(Q)
  groups.flush(Q)
  local m = redis.call("ZRANGEBYLEX", Q.gx, "[w", "(x", "LIMIT", "0", "1")[1]
  if not m then
    return 0
  end
  return tonumber(string.sub(m, 2, GROUPS.TIME_DIGITS + 1))
end

-- groups.room returns how many jobs the groups may start now (groom).
function groups.room(Q)
  groups.flush(Q)
  return num(redis.call("HGET", Q.meta, "groom"))
end

-- groups.take takes up to max waiting jobs out of p and their lines, round
-- robin: each the first of the line of the group at the front of the
-- ring, which then goes to the back of it (or out). It counts them
-- active, and as starts of a rate-limited group, and returns their IDs.
--
-- It reads the front of the ring a page at a time, and the records of
-- its groups at once, and writes what changed once, at the end: the ring
-- as the store has it, less the groups taken from it, is the front of
-- the ring, and the groups that went to its back in this call (back)
-- follow it.
function groups.take(Q, max)
  groups.flush(Q)
  local defer = Q.gdefer
  Q.gdefer = true
  local gl = groups.limits(Q)
  local ids, taken = {}, {}
  local lrem, prem = batch("ZREM", Q.gx), batch("ZREM", Q.p)
  local front, fi, from, more = {}, 1, 0, true
  local back, bi = {}, 1
  while #ids < max do
    if fi > #front and more then
      local want = max - #ids
      front, fi = redis.call("ZRANGE", Q.gr, ISTR[from], ISTR[from + want - 1]), 1
      more = #front == want
      from = from + #front
      groups.fetch(Q, front)
    end
    local name
    if fi <= #front then
      name, fi = front[fi], fi + 1
    elseif bi <= #back then
      name, bi = back[bi], bi + 1
    else
      break
    end
    -- The lines lose their taken jobs at the end: skip those taken.
    local k = taken[name] or 0
    local m = redis.call("ZRANGEBYLEX", Q.gx, "[l" .. name .. "\0", "(l" .. name .. "\1", "LIMIT", ISTR[k], "1")[1]
    if not m then
      error("drover: group " .. name .. " of " .. Q.name .. " is in the ring with no job ready")
    end
    taken[name] = k + 1
    -- m is 'l' name 0x00 score id (see groups.line).
    local id = string.sub(m, #name + 3 + GROUPS.PLACE_DIGITS)
    push(lrem, m)
    push(prem, id)
    local g = groups.get(Q, name)
    g[G.READY] = num(g[G.READY]) - 1
    if name ~= GROUPS.UNGROUPED then
      g[G.ACTIVE] = num(g[G.ACTIVE]) + 1
      if gl.rate > 0 then
        window.group(Q, name, gl.rate, gl.per).add({id})
      end
    end
    groups.put(Q, name, g, true)
    if g[G.PLACE] ~= "" then
      back[#back + 1] = name
    end
    ids[#ids + 1] = id
  end
  flush(lrem)
  flush(prem)
  Q.gdefer = defer
  groups.flush(Q)
  return ids
end
