-- add.lua: inserts jobs and flow trees, all or nothing.
--
--- @include transitions, flows, change
--
-- KEYS: M queue key sets of NK keys each; set 1 is the queue of the call,
--   the others are queues of flow children; then the reply key (in set 1's
--   slot).
-- ARGV: [1..4] now, event count, event age, reply TTL (see call.lua);
--   [5] M; [6..5+M] the queue names of the key sets; then N, then N nodes
--   in preorder of 3 arguments each: place, head and options. The place
--   is "" for a top-level job of set 1 with an assigned ID, no delay, no
--   priority, not LIFO and no deduplication key, else the record of key
--   set index, parent node index (0: top level), job ID ("" assigns the
--   next number), delay ms, priority, "1" for a job that goes to the front
--   of its line, and for a job with a deduplication key the key, its
--   mode, TTL ms and "1" for KeepLastIfActive. The head is the start of
--   the job record (J_NAME, J_DATA), the options its fields from J_PRIORITY
--   on, both encoded by the Go side.
-- Returns: when every place is "", one value: the number of the first job,
--   the others numbered after it. Else 2N values: for each node its job ID
--   and "0" if it was added, "1" if it was a duplicate of an existing job,
--   or, when a job held its deduplication key, the DEDUP outcome (the ID
--   is then the holder's); the nodes under a duplicate get "" and "1".
--   Error ERR_CONFLICT if a flow child's caller-chosen ID exists already;
--   nothing is written then. A resend gets the reply of the first run,
--   rebuilt from what it kept: the first job's number (plain jobs), else
--   the record of a status per node ("": every node was added; else "0"
--   added, "1" duplicate, "2" under a duplicate, or the first letter of a
--   DEDUP outcome), for each key set the number of its first job added
--   (0: none), then the holder of each node that a key held, in order.

local m = tonumber(ARGV[5])
local Qs = {}
for i = 1, m do
  Qs[i] = keyset(i, ARGV[5 + i])
end
local base = 6 + m
local n = tonumber(ARGV[base])

-- Plain jobs only (every place ""): numbered in order, all waiting with
-- priority 0, none a duplicate. The reply is then just the first job's
-- number.
local plain = m == 1
for i = 1, n do
  if not plain or ARGV[base + 3 * i - 2] ~= "" then
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
  local hj, hw = batch("HSET", Q.j), batch("RPUSH", Q.w)
  -- In grouped mode they wait in the line of the jobs without a group.
  local grouped = limits.of(Q).groups
  local nogroup = {}
  for i = 1, n do
    local id = istr(first + i - 1)
    local head = ARGV[base + 3 * i - 1]
    push(hj, id, newrec(head, "", "", "", "", ARGV[base + 3 * i]))
    if grouped then
      push_ready(Q, id, nogroup, false)
    else
      push(hw, id)
    end
    local name = field1(head)
    emit(Q, {type = "added", job = id, name = name})
    emit(Q, {type = "waiting", job = id, name = name})
  end
  flush(hj)
  flush(hw)
  wake(Q, n)
  trim_events(Q)
  return done({first}, istr(first))
end

local nodes = {}
for i = 1, n do
  local o = base + (i - 1) * 3
  nodes[i] = dedup.node(ARGV[o + 1], ARGV[o + 2], ARGV[o + 3])
end

-- A resend: the same nodes, with what the first run kept.
local kept = replayed()
if kept then
  local k = dec(kept)
  local st, out = k[1], {}
  local nextseq = {}
  for q = 1, m do
    nextseq[q] = num(k[q + 1])
  end
  local held = m + 2
  local outcome = {}
  for _, o in ipairs({DEDUP.IGNORED, DEDUP.REPLACED, DEDUP.DEFERRED}) do
    outcome[string.sub(o, 1, 1)] = o
  end
  for i = 1, n do
    local nd = nodes[i]
    local s = "0"
    if st ~= "" then
      s = string.sub(st, i, i)
    end
    if s == "1" then
      out[#out + 1] = nd.id
      out[#out + 1] = "1"
    elseif s == "2" then
      out[#out + 1] = ""
      out[#out + 1] = "1"
    elseif outcome[s] then
      out[#out + 1] = k[held]
      out[#out + 1] = outcome[s]
      held = held + 1
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

-- claim decides what becomes of node i of an add, nd, whose job
-- has a key, before anything is written. claims holds what the keys the
-- add used so far (by key set and key) are held by: false when free,
-- else the holder's ID (job) or node (node), and the hold's mode, keep
-- and the holder's state. A free key is taken by the node (nd.takes),
-- and holds for the nodes after it; a held one makes nd a duplicate of
-- its holder (nd.held), with the outcome nd.dedup.
local function claim(Qs, claims, nd, i)
  local ck = nd.q .. "\n" .. nd.key
  local cl = claims[ck]
  if cl == nil then
    local e, h = dedup.holder(Qs[nd.q], nd.key)
    cl = false
    if e then
      cl = {job = e[D.JOB], mode = e[D.MODE], keep = e[D.KEEP] == "1", st = h and state_of(h)}
    end
  end
  if cl then
    nd.skip, nd.held, nd.dedup = true, cl, DEDUP.IGNORED
    if cl.mode == DEDUP.DEBOUNCE then
      if cl.st == ST_WAITING or cl.st == ST_DELAYED then
        nd.dedup = DEDUP.REPLACED
      elseif cl.st == ST_ACTIVE and cl.keep then
        nd.dedup = DEDUP.DEFERRED
      end
    end
  else
    -- The node's job will be new: waiting or delayed.
    cl = {node = i, mode = nd.mode, keep = nd.keep == "1", st = ST_WAITING}
    nd.takes = true
  end
  claims[ck] = cl
end

-- deduplicate applies the add nd (see claim) to job hid, which held
-- its key, with a deduplicated event: it replaces the job's data and
-- restarts its delay, keeps the add to run after the job, or changes
-- nothing.
local function deduplicate(Q, nd, hid)
  local s = redis.call("HGET", Q.j, hid)
  local c, h = {}, {}
  if s then
    c, h = dec(s), dec(redis.call("HGET", Q.h, hid) or "")
  end
  job_event(Q, "deduplicated", hid, c, h, {reason = nd.dedup, key = nd.key})
  if nd.dedup == DEDUP.REPLACED then
    change_job(Q, hid, c, h, state_of(h), nil, NOW + nd.delay, dec(nd.head)[2] or "")
  elseif nd.dedup == DEDUP.DEFERRED then
    local e = dedup.entry(Q, nd.key)
    e[D.NEXT] = enclist({nd.pl, nd.head, nd.opts})
    dedup.put(Q, nd.key, e)
  end
end

-- sweep deletes up to n entries whose TTL ran out: an add that uses
-- k keys sweeps 2k + 8, more than it can make, so that they do not pile
-- up.
local function sweep(Q, n)
  for _, key in ipairs(redis.call("ZRANGEBYSCORE", Q.ddx, "-inf", NOW, "LIMIT", 0, n)) do
    dedup.del(Q, key)
  end
end

-- Pass 1: duplicates, conflicts and deduplication keys, before anything
-- is written. A key that a node takes holds for the nodes after it.
local claims, keyed = {}, {}
for i = 1, n do
  local nd = nodes[i]
  if nd.parent > 0 and nodes[nd.parent].skip then
    nd.skip = true
  elseif nd.id ~= "" and redis.call("HEXISTS", Qs[nd.q].j, nd.id) == 1 then
    if nd.parent == 0 then
      nd.dup = true
      nd.skip = true
    else
      return redis.error_reply(ERR_CONFLICT .. " job " .. Qs[nd.q].name .. "/" .. nd.id .. " exists already")
    end
  elseif nd.key ~= "" then
    keyed[nd.q] = (keyed[nd.q] or 0) + 1
    claim(Qs, claims, nd, i)
  end
end

-- Pass 2: IDs and job numbers, reserved with one HINCRBY per queue.
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
    if nd.id == "" then
      nd.id = istr(seq)
      nd.seqs = ""
    else
      nd.seqs = istr(seq)
    end
    if nd.parent > 0 then
      local p = nodes[nd.parent].kids
      p[#p + 1] = ref(Qs[nd.q].name, nd.id)
    end
  end
end

-- Pass 3: records, set entries and events.
for q, k in pairs(keyed) do
  sweep(Qs[q], 2 * k + 8)
end
local ready, earliest = {}, {}
local out = {}
local holders = {}
for i = 1, n do
  local nd = nodes[i]
  local Q = Qs[nd.q]
  if nd.dup then
    -- The event names the job that exists, as the reply does.
    local c, h = getjob(Q, nd.id)
    job_event(Q, "duplicated", nd.id, c, h)
    out[#out + 1] = nd.id
    out[#out + 1] = "1"
  elseif nd.dedup then
    local hid = nd.held.job or nodes[nd.held.node].id
    deduplicate(Q, nd, hid)
    holders[#holders + 1] = hid
    out[#out + 1] = hid
    out[#out + 1] = nd.dedup
  elseif nd.skip then
    out[#out + 1] = ""
    out[#out + 1] = "1"
  else
    local pq, pid = "", ""
    if nd.parent > 0 then
      pq = Qs[nodes[nd.parent].q].name
      pid = nodes[nd.parent].id
    end
    local rec = newrec(nd.head, nd.seqs, pq, pid, enclist(nd.kids), nd.opts)
    redis.call("HSET", Q.j, nd.id, rec)
    local c, h = dec(rec), {}
    job_event(Q, "added", nd.id, c, h)
    if #nd.kids > 0 then
      local runat = 0
      if nd.delay > 0 then
        runat = NOW + nd.delay
      end
      for _, k in ipairs(nd.kids) do
        redis.call("HSET", Q.deps, nd.id .. "\n" .. k, "")
      end
      h[H_STATE], h[H_PENDING], h[H_RUN_AT] = ST_WAITING_CHILDREN, #nd.kids, runat
      redis.call("ZADD", Q.wc, nd.seq, nd.id)
      puthot(Q, nd.id, h)
      job_event(Q, "waiting-children", nd.id, c, h)
    else
      local runat = enter(Q, nd.id, c, h, nd.delay, nd.prio, nd.lifo)
      if runat == 0 then
        ready[nd.q] = (ready[nd.q] or 0) + 1
      elseif not earliest[nd.q] or runat < earliest[nd.q][1] then
        earliest[nd.q] = {runat, nd.id}
      end
    end
    if nd.takes then
      dedup.take(Q, nd.key, nd.id, nd)
    end
    out[#out + 1] = nd.id
    out[#out + 1] = "0"
  end
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
    elseif nodes[i].dedup then
      st[i] = string.sub(nodes[i].dedup, 1, 1)
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
for k, hid in ipairs(holders) do
  summary[m + 1 + k] = hid
end
return done(out, enc(summary, m + 1 + #holders))
