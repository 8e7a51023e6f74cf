-- add.lua: inserts jobs and flow trees, all or nothing.
--
-- KEYS: M queue key sets of NK keys each; set 1 is the queue of the call,
--   the others are queues of flow children; then the reply key (in set 1's
--   slot).
-- ARGV: [1..4] now, event count, event age, reply TTL (see lib.lua); [5] M;
--   [6..5+M] the queue names of the key sets; then N, then N nodes in
--   preorder of 2 arguments each: head and record tail. The head is "" for a top-level
--   job of set 1 with an assigned id, no delay and no priority, else the
--   encoded list of key set index, parent node index (0: top level), job
--   id ("" assigns the next number), delay ms and priority. The tail is a
--   flags digit and the fields from F_NAME on, encoded by the Go side.
-- Returns: when every head is "", one value: the number of the first job,
--   the others numbered after it. Else 2N values: for each node its job id
--   and "1" if it was a duplicate of an existing job ("0" otherwise); the
--   nodes under a duplicate get "" and "1". Error "DROVER_CONFLICT ..." if
--   a flow child's caller-chosen id exists already; nothing is written then.
--   A resend gets the reply of the first run, rebuilt from what it kept:
--   the first job's number (plain jobs), else the encoded list of a status
--   per node ("": every node was added; else "0" added, "1" duplicate,
--   "2" under a duplicate) and for each key set the number of its first
--   job added (0: none).

local m = tonumber(ARGV[5])
local Qs = {}
for i = 1, m do
  Qs[i] = keyset(i, ARGV[5 + i])
end
local base = 6 + m
local n = tonumber(ARGV[base])

-- Plain jobs only (every head ""): numbered in order, all waiting, none a
-- duplicate. The reply is then just the first job's number.
local plain = m == 1
for i = 1, n do
  if not plain or ARGV[base + 2 * i - 1] ~= "" then
    plain = false
    break
  end
end
if plain then
  local Q = Qs[1]
  local kept = replayed()
  if kept then
    return done({tonumber(kept)})
  end
  local first = redis.call("HINCRBY", Q.meta, "seq", n) - n + 1
  local hj, hw = batch("HSET", Q.j), batch("ZADD", Q.w)
  local EV_ADDED, EV_WAITING = EV_CODE.added, EV_CODE.waiting
  for i = 1, n do
    local id = istr(first + i - 1)
    local rec, name = newjob("waiting", id, 0, "", "", "", 0, ARGV[base + 2 * i])
    push(hj, id, rec)
    -- score(0, seq) is seq, and the id is its decimal string.
    push(hw, id, id)
    event(Q, EV_ADDED, id, name, "0", "")
    event(Q, EV_WAITING, id, name, "0", "")
  end
  flush(hj)
  flush(hw)
  wake(Q, n)
  trim_events(Q)
  return done({first}, istr(first))
end

local nodes = {}
for i = 1, n do
  local o = base + (i - 1) * 2
  local head = ARGV[o + 1]
  if head == "" then
    nodes[i] = {q = 1, parent = 0, id = "", delay = 0, prio = 0, tail = ARGV[o + 2], kids = {}}
  else
    local h = dec(head)
    nodes[i] = {
      q = tonumber(h[1]), parent = tonumber(h[2]), id = h[3], delay = tonumber(h[4]), prio = tonumber(h[5]),
      tail = ARGV[o + 2], kids = {},
    }
  end
end

-- A resend: the ids are those of the first run, which followed the same
-- nodes in the same order (pass 2).
local kept = replayed()
if kept then
  local k = dec(kept)
  local status, nextseq, out = k[1], {}, {}
  for q = 1, m do
    nextseq[q] = num(k[q + 1])
  end
  for i = 1, n do
    local nd, st = nodes[i], "0"
    if status ~= "" then
      st = string.sub(status, i, i)
    end
    if st == "1" then
      out[#out + 1] = nd.id
      out[#out + 1] = "1"
    elseif st == "2" then
      out[#out + 1] = ""
      out[#out + 1] = "1"
    else
      local id = nd.id
      if id == "" then
        id = istr(nextseq[nd.q])
      end
      nextseq[nd.q] = nextseq[nd.q] + 1
      out[#out + 1] = id
      out[#out + 1] = "0"
    end
  end
  return done(out)
end

-- Pass 1: duplicates and conflicts, before anything is written.
for i = 1, n do
  local nd = nodes[i]
  if nd.parent > 0 and nodes[nd.parent].skip then
    nd.skip = true
  elseif nd.id ~= "" and redis.call("HEXISTS", Qs[nd.q].j, nd.id) == 1 then
    if nd.parent == 0 then
      nd.dup = true
      nd.skip = true
    else
      return redis.error_reply("DROVER_CONFLICT job " .. Qs[nd.q].name .. "/" .. nd.id .. " exists already")
    end
  end
end

-- Pass 2: ids and sequence numbers, reserved with one HINCRBY per queue.
local count = {}
for i = 1, n do
  local nd = nodes[i]
  if not nd.skip then
    count[nd.q] = (count[nd.q] or 0) + 1
  end
end
local nextseq, firstseq = {}, {}
local skipped = false
for q, c in pairs(count) do
  nextseq[q] = redis.call("HINCRBY", Qs[q].meta, "seq", c) - c
  firstseq[q] = nextseq[q] + 1
end
for i = 1, n do
  local nd = nodes[i]
  if nd.skip then
    skipped = true
  else
    local seq = nextseq[nd.q] + 1
    nextseq[nd.q] = seq
    nd.seq = seq
    nd.seqs = istr(seq)
    if nd.id == "" then
      nd.id = nd.seqs
    end
    if nd.parent > 0 then
      local p = nodes[nd.parent].kids
      p[#p + 1] = ref(Qs[nd.q].name, nd.id)
    end
  end
end

-- Pass 3: records, set entries and events, gathered per queue and written
-- in batches.
local EV_ADDED, EV_WAITING = EV_CODE.added, EV_CODE.waiting
local B = {}
for i = 1, m do
  B[i] = {j = batch("HSET", Qs[i].j), w = batch("ZADD", Qs[i].w), d = batch("ZADD", Qs[i].d), wc = batch("ZADD", Qs[i].wc)}
end
local ready, earliest = {}, {}
local out = {}
for i = 1, n do
  local nd = nodes[i]
  local Q = Qs[nd.q]
  if nd.dup then
    -- The event names the job that exists, as the reply does.
    emitjob(Q, "duplicated", nd.id, getjob(Q, nd.id))
    out[#out + 1] = nd.id
    out[#out + 1] = "1"
  elseif nd.skip then
    out[#out + 1] = ""
    out[#out + 1] = "1"
  else
    local pq, pid = "", ""
    if nd.parent > 0 then
      pq = Qs[nodes[nd.parent].q].name
      pid = nodes[nd.parent].id
    end
    local state, runat = "waiting", 0
    if #nd.kids > 0 then
      state = "waiting-children"
    elseif nd.delay > 0 then
      state = "delayed"
      runat = NOW + nd.delay
    end
    if #nd.kids > 0 and nd.delay > 0 then
      runat = NOW + nd.delay
    end
    for _, k in ipairs(nd.kids) do
      redis.call("HSET", Q.deps, nd.id .. "\n" .. k, "1")
    end
    local rec, name = newjob(state, nd.seqs, runat, pq, pid, enclist(nd.kids), #nd.kids, nd.tail)
    local b = B[nd.q]
    push(b.j, nd.id, rec)
    event(Q, EV_ADDED, nd.id, name, "0", "")
    if state == "waiting" then
      if nd.prio > 0 then
        push(b.w, score(nd.prio, nd.seq), nd.id)
        emit(Q, "prioritized", nd.id, name, 0, nil, nil, nil, nil, nil, nil)
      else
        -- score(0, seq) is seq, whose decimal string is at hand.
        push(b.w, nd.seqs, nd.id)
        event(Q, EV_WAITING, nd.id, name, "0", "")
      end
      ready[nd.q] = (ready[nd.q] or 0) + 1
    elseif state == "delayed" then
      push(b.d, runat, nd.id)
      emit(Q, "delayed", nd.id, name, 0, nil, nil, nil, runat, nil, nil)
      if not earliest[nd.q] or runat < earliest[nd.q][1] then
        earliest[nd.q] = {runat, nd.id}
      end
    else
      push(b.wc, nd.seqs, nd.id)
      emit(Q, "waiting-children", nd.id, name, 0, nil, nil, nil, nil, nil, nil)
    end
    out[#out + 1] = nd.id
    out[#out + 1] = "0"
  end
end
for i = 1, m do
  flush(B[i].j)
  flush(B[i].w)
  flush(B[i].d)
  flush(B[i].wc)
end

for i = 1, m do
  if ready[i] then
    wake(Qs[i], ready[i])
  end
  if earliest[i] then
    delay_notice(Qs[i], earliest[i][2])
  end
  trim_events(Qs[i])
end
local summary = {""}
if skipped then
  local st = {}
  for i = 1, n do
    if nodes[i].dup then
      st[i] = "1"
    elseif nodes[i].skip then
      st[i] = "2"
    else
      st[i] = "0"
    end
  end
  summary[1] = table.concat(st)
end
for q = 1, m do
  summary[q + 1] = firstseq[q] or 0
end
return done(out, enc(summary, m + 1))
