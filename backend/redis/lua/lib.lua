-- lib.lua: functions shared by every drover script. The Go side puts this
-- file before the script bodies, either as one script each (EVAL) or as
-- one function library holding them all (Redis 7 Functions); every body
-- starts with begin(KEYS, ARGV). It defines no key names of its own.
--
-- KEYS: none of its own. Every script passes one or more queue key sets of
--   NK keys each (see keyset below); KEYS[1..NK] is the script's own queue.
--   A script that writes passes one more key after them: its reply key
--   (see replayed below), in the slot of its own queue.
-- ARGV: every script starts with ARGV[1] = now (Unix ms from the caller's
--   clock), ARGV[2] = event retention count (0: none), ARGV[3] = event
--   retention age in ms (0: none), ARGV[4] = how long to keep the reply
--   key, in ms (0: not at all). Script arguments start at ARGV[5]. Most
--   scripts then take ARGV[5] = the name of their queue.
-- Returns: nothing; scripts return their own values.

local NK = 14
-- The state of one call, set by begin: in a function library it outlives
-- the call, so begin sets all of it afresh.
local K, NOW, NOWS, EVMAX, EVAGE, RKEY, RTTL

-- Field positions of a job record (see record.go).
local F_STATE, F_SEQ, F_CREATED, F_RUNAT, F_PQ, F_PID, F_KIDS, F_PEND = 1, 2, 3, 4, 5, 6, 7, 8
local F_NAME, F_DATA, F_PRIO, F_ATT, F_MADE, F_STALL, F_BACKOFF, F_TIMEOUT = 9, 10, 11, 12, 13, 14, 15, 16
local F_KC, F_KF, F_PROG, F_RES, F_REASON, F_STACK, F_LOGS, F_PROC = 17, 18, 19, 20, 21, 22, 23, 24
local F_FIN, F_TOKEN, F_LEXP, F_WORKER, F_SCHED, F_POLICY, F_OUTC = 25, 26, 27, 28, 29, 30, 31
local NF = 31

-- Field positions of a scheduler record.
local S_ID, S_REV, S_REPEAT, S_TAIL, S_PRIO, S_LIMIT, S_ITER, S_NEXT, S_UPCOMING, S_FINAL, S_UPDATED = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
local NS = 11

local SEQ_MUL = 2147483648

-- The failure reason of a job that stalled too often: backend.StalledReason.
local STALLED_REASON = "job stalled more than MaxStalled times"

local function num(s)
  return tonumber(s) or 0
end

-- Number-to-string conversions are slow in Lua (a formatted print each),
-- and the scripts make the same few over and over: the length prefixes
-- of fields and small counts. The tables LP and ISTR remember them for
-- one call (begin makes them), so that they never grow without bound.
local LP_MT = {__index = function(t, k)
  local v = string.format("%d:", k)
  rawset(t, k, v)
  return v
end}
local ISTR_MT = {__index = function(t, k)
  local v = string.format("%d", k)
  rawset(t, k, v)
  return v
end}
local LP, ISTR

local function istr(x)
  if type(x) == "number" then
    if x >= 0 and x < 1000 then
      return ISTR[x]
    end
    return string.format("%d", x)
  end
  return x or ""
end

-- dec splits a record of length-prefixed fields ("<len>:<bytes>"...).
local function dec(s)
  local t, i, n, len = {}, 1, 0, #s
  while i <= len do
    local c = string.find(s, ":", i, true)
    local l = tonumber(string.sub(s, i, c - 1))
    n = n + 1
    t[n] = string.sub(s, c + 1, c + l)
    i = c + l + 1
  end
  return t
end

-- concat joins a list of strings in chunks: some Lua runtimes cap
-- table.concat's size.
local function concat(p)
  if #p <= 100 then
    return table.concat(p)
  end
  local out = {}
  for i = 1, #p, 100 do
    out[#out + 1] = table.concat(p, "", i, math.min(i + 99, #p))
  end
  return table.concat(out)
end

local function enc(t, n)
  if n == 0 then
    return ""
  end
  local p = {}
  for i = 1, n do
    local v = istr(t[i])
    p[i] = LP[#v] .. v
  end
  return concat(p)
end

local function enclist(t)
  return enc(t, #t)
end

local function keyset(set, name)
  local b = (set - 1) * NK
  return {
    name = name,
    meta = K[b + 1], j = K[b + 2], w = K[b + 3], d = K[b + 4],
    a = K[b + 5], c = K[b + 6], f = K[b + 7], wc = K[b + 8],
    e = K[b + 9], wake = K[b + 10], logs = K[b + 11], o = K[b + 12],
    s = K[b + 13], deps = K[b + 14],
  }
end

local function score(prio, seq)
  return prio * SEQ_MUL + seq
end

-- Events. A script's events are gathered per queue and appended when the
-- script ends (done), as one stream entry per queue: its ID is "<n>-0"
-- where n is the ID of its last event, and its fields are ts (the time of
-- every event in it), c (how many events) and d, the events one after the
-- other, each a type code byte and four length-prefixed fields: job id,
-- name, attempts made, and x (empty, or the encoded list of result,
-- reason, progress, run at, scheduler id, count). One entry per call
-- instead of one per event keeps a bulk of many jobs cheap. The log is
-- trimmed approximately by MINID; readers hide events beyond the retention
-- count, so at most that many are ever visible.
local EV_CODE = {added = "a", waiting = "w", delayed = "d", prioritized = "p", active = "A", progress = "g",
  completed = "c", failed = "f", retrying = "r", stalled = "s", removed = "x", duplicated = "u",
  ["waiting-children"] = "W", paused = "P", resumed = "R", drained = "D", cleaned = "C",
  ["scheduler-upserted"] = "S", ["scheduler-removed"] = "X"}
local EVBUF, EVQ

-- begin starts a call with its KEYS and ARGV.
local function begin(keys, argv)
  K = keys
  NOWS = argv[1]
  NOW = tonumber(NOWS)
  EVMAX = tonumber(argv[2])
  EVAGE = tonumber(argv[3])
  RTTL = argv[4]
  RKEY = nil
  if RTTL ~= "0" and #keys % NK == 1 then
    RKEY = keys[#keys]
  end
  EVBUF, EVQ = {}, {}
  LP, ISTR = setmetatable({}, LP_MT), setmetatable({}, ISTR_MT)
end

-- event appends one packed event to its queue's buffer: code is its type
-- code, made attempts made as a string, x its extra fields ("" for none).
local function event(Q, code, id, name, made, x)
  local b = EVBUF[Q.e]
  if not b then
    b = {n = 0, parts = {}}
    EVBUF[Q.e] = b
    EVQ[#EVQ + 1] = Q
  end
  b.n = b.n + 1
  local p = b.parts
  p[#p + 1] = code .. LP[#id] .. id .. LP[#name] .. name .. LP[#made] .. made .. LP[#x] .. x
end

local function emit(Q, typ, id, name, made, result, reason, progress, runat, sched, count)
  local x = ""
  result, reason, progress, sched = result or "", reason or "", progress or "", sched or ""
  if result ~= "" or reason ~= "" or progress ~= "" or num(runat) ~= 0 or sched ~= "" or num(count) ~= 0 then
    runat, count = istr(runat or 0), istr(count or 0)
    x = LP[#result] .. result .. LP[#reason] .. reason .. LP[#progress] .. progress .. LP[#runat] .. runat ..
      LP[#sched] .. sched .. LP[#count] .. count
  end
  event(Q, EV_CODE[typ], id or "", name or "", istr(made or 0), x)
end

local function emitjob(Q, typ, id, r)
  emit(Q, typ, id, r[F_NAME], r[F_MADE], nil, nil, nil, nil, r[F_SCHED], nil)
end

-- Resent calls. A client that loses the connection after sending a call
-- sends it again (go-redis does so by default), and the server may have
-- run the first one. So every call that writes carries a key of its own,
-- {prefix:queue}:r:<request id>, unique to the call and kept by a resend.
-- A script that ran keeps there, for RTTL ms, what it needs to rebuild its
-- reply (a short summary, not the reply itself); the same call sent again
-- finds it, changes nothing and returns the reply rebuilt from it. A call
-- that wrote nothing (an error, a lease of no job) keeps nothing, and a
-- resend of it runs afresh.

-- replayed returns what an earlier run of this call kept, or nil if this
-- is its first run.
local function replayed()
  if RKEY then
    local kept = redis.call("GET", RKEY)
    if kept then
      return kept
    end
  end
  return nil
end

-- done appends the events the script gathered and returns its reply; kept,
-- if not nil, is what a resend of the call will get from replayed. Every
-- script ends with "return done(reply)" or "return done(reply, kept)".
local function done(reply, kept)
  if kept and RKEY then
    redis.call("SET", RKEY, kept, "PX", RTTL)
  end
  for _, Q in ipairs(EVQ) do
    local b = EVBUF[Q.e]
    local last = redis.call("HINCRBY", Q.meta, "ev", b.n)
    local data = concat(b.parts)
    if EVMAX > 0 then
      redis.call("XADD", Q.e, "MINID", "~", istr(math.max(last - EVMAX + 1, 0)) .. "-0", istr(last) .. "-0", "ts", NOWS,
        "c", b.n, "d", data)
    else
      redis.call("XADD", Q.e, istr(last) .. "-0", "ts", NOWS, "c", b.n, "d", data)
    end
  end
  return reply
end

-- trim_events drops events older than the retention age, a bounded number
-- per call.
local function trim_events(Q)
  if EVAGE <= 0 then
    return
  end
  local cutoff = NOW - EVAGE
  local es = redis.call("XRANGE", Q.e, "-", "+", "COUNT", 1)
  if #es == 0 or num(es[1][2][2]) >= cutoff then
    return
  end
  for _ = 1, 10 do
    es = redis.call("XRANGE", Q.e, "-", "+", "COUNT", 50)
    if #es == 0 then
      return
    end
    for _, e in ipairs(es) do
      if num(e[2][2]) >= cutoff then
        return
      end
      redis.call("XDEL", Q.e, e[1])
    end
  end
end

-- wake lets up to n idle leasers through: one token each, at most as many
-- tokens as ready jobs plus one (a notice of an earlier due time).
local function wake(Q, n)
  if redis.call("HGET", Q.meta, "paused") == "1" then
    return
  end
  local ready = redis.call("ZCARD", Q.w)
  if n > ready + 1 then
    n = ready + 1
  end
  local batch = {}
  for i = 1, n do
    batch[#batch + 1] = "1"
    if #batch == 1000 or i == n then
      redis.call("LPUSH", Q.wake, unpack(batch))
      batch = {}
    end
  end
  redis.call("LTRIM", Q.wake, 0, ready)
end

-- delay_notice wakes one idle leaser when job id became the earliest
-- delayed job, so that it waits until the new earliest due time.
local function delay_notice(Q, id)
  if redis.call("ZRANGE", Q.d, 0, 0)[1] == id then
    wake(Q, 1)
  end
end

-- A job record is a fixed-width header and a body of length-prefixed
-- fields (see record.go). The header holds the fields that change on
-- lease and settle, so those can rewrite a record by splicing instead of
-- decoding it: state code, flags, attempts made, stalled count, run at,
-- processed at, finished at, lease expiry. Flags: 1 scheduler, 2 parent,
-- 4 retention other than keep all.
local HDR = 78
local HFMT = "%s%d%010d%010d%014d%014d%014d%014d"
local KEEP_ALL = "0:1:01:0"
local STATE_CODE = {waiting = "w", delayed = "d", active = "a", completed = "c", failed = "f", ["waiting-children"] = "p"}
local CODE_STATE = {w = "waiting", d = "delayed", a = "active", c = "completed", f = "failed", p = "waiting-children"}
local BODY = {F_TOKEN, F_WORKER, F_NAME, F_RES, F_SEQ, F_CREATED, F_PQ, F_PID, F_KIDS, F_PEND, F_DATA, F_PRIO, F_ATT,
  F_BACKOFF, F_TIMEOUT, F_KC, F_KF, F_PROG, F_REASON, F_STACK, F_LOGS, F_SCHED, F_POLICY, F_OUTC}

local function t14(n)
  return string.format("%014d", n)
end

local function lp(v)
  v = istr(v)
  return LP[#v] .. v
end

local function decjob(s)
  local r = {}
  r[F_STATE] = CODE_STATE[string.sub(s, 1, 1)]
  r[F_MADE] = tonumber(string.sub(s, 3, 12))
  r[F_STALL] = tonumber(string.sub(s, 13, 22))
  r[F_RUNAT] = tonumber(string.sub(s, 23, 36))
  r[F_PROC] = tonumber(string.sub(s, 37, 50))
  r[F_FIN] = tonumber(string.sub(s, 51, 64))
  r[F_LEXP] = tonumber(string.sub(s, 65, 78))
  local i, len, k = HDR + 1, #s, 0
  while i <= len do
    local c = string.find(s, ":", i, true)
    local l = tonumber(string.sub(s, i, c - 1))
    k = k + 1
    r[BODY[k]] = string.sub(s, c + 1, c + l)
    i = c + l + 1
  end
  return r
end

local function encjob(r)
  local flags = 0
  if (r[F_SCHED] or "") ~= "" then flags = 1 end
  if (r[F_PID] or "") ~= "" then flags = flags + 2 end
  if (r[F_KC] or KEEP_ALL) ~= KEEP_ALL or (r[F_KF] or KEEP_ALL) ~= KEEP_ALL then flags = flags + 4 end
  local p = {string.format(HFMT, STATE_CODE[r[F_STATE]], flags, num(r[F_MADE]), num(r[F_STALL]), num(r[F_RUNAT]),
    num(r[F_PROC]), num(r[F_FIN]), num(r[F_LEXP]))}
  for k = 1, #BODY do
    local v = istr(r[BODY[k]])
    p[k + 1] = #v .. ":" .. v
  end
  return table.concat(p)
end

-- newjob builds the record of a new job from its tail (made by the Go
-- side: flags digit, name, then the fields from data on); seq is a
-- string. It returns the record and the job's name.
local Z14 = "00000000000000"
local HDR_NEW = "00000000000000000000"
local PARENT_FLAG = {["0"] = "2", ["1"] = "3", ["4"] = "6", ["5"] = "7"}
local function newjob(state, seq, runat, pq, pid, kids, pend, tail)
  local c = string.find(tail, ":", 2, true)
  local e = c + tonumber(string.sub(tail, 2, c - 1))
  local flags = string.sub(tail, 1, 1)
  if pid ~= "" then flags = PARENT_FLAG[flags] end
  local ra = Z14
  if runat ~= 0 then ra = t14(runat) end
  local rec = STATE_CODE[state] .. flags .. HDR_NEW .. ra .. Z14 .. Z14 .. Z14 .. "0:0:" ..
    string.sub(tail, 2, e) .. "0:" .. LP[#seq] .. seq .. LP[#NOWS] .. NOWS .. LP[#pq] .. pq .. LP[#pid] .. pid ..
    LP[#kids] .. kids .. lp(pend) .. string.sub(tail, e + 1)
  return rec, string.sub(tail, c + 1, e)
end

-- batch gathers the arguments of one command over many jobs, such as
-- HSET key id1 rec1 id2 rec2, and sends them in chunks.
local function batch(cmd, key)
  return {cmd = cmd, key = key, args = {}}
end

-- push appends the arguments of one job to a batch: one for a command such
-- as ZREM, or two (field and value, score and member).
local function push(b, x, y)
  local a = b.args
  a[#a + 1] = x
  if y ~= nil then
    a[#a + 1] = y
  end
end

local function flush(b)
  local a = b.args
  local n = #a
  local i = 1
  while i <= n do
    local j = math.min(i + 999, n)
    redis.call(b.cmd, b.key, unpack(a, i, j))
    i = j + 1
  end
  b.args = {}
end

local function getjob(Q, id)
  local s = redis.call("HGET", Q.j, id)
  if not s then
    return nil
  end
  return decjob(s)
end

local function putjob(Q, id, r)
  redis.call("HSET", Q.j, id, encjob(r))
end

-- deljob removes a job record and its log lines (not its set entries).
local function deljob(Q, id, r)
  redis.call("HDEL", Q.j, id)
  if r[F_KIDS] ~= "" then
    for _, k in ipairs(dec(r[F_KIDS])) do
      redis.call("HDEL", Q.deps, id .. "\n" .. k)
    end
  end
  local n = num(r[F_LOGS])
  for i = 1, n do
    redis.call("HDEL", Q.logs, id .. "\n" .. i)
  end
end

local function unset(Q, id)
  redis.call("ZREM", Q.w, id)
  redis.call("ZREM", Q.d, id)
  redis.call("ZREM", Q.a, id)
  redis.call("ZREM", Q.wc, id)
  redis.call("ZREM", Q.c, id)
  redis.call("ZREM", Q.f, id)
end

-- make_ready puts a job in waiting (or delayed when runat is later).
-- It returns 1 if the job became waiting.
local function make_ready(Q, id, r, runat)
  if runat and runat > NOW then
    r[F_STATE] = "delayed"
    r[F_RUNAT] = runat
    redis.call("ZADD", Q.d, runat, id)
    putjob(Q, id, r)
    emit(Q, "delayed", id, r[F_NAME], r[F_MADE], nil, nil, nil, runat, r[F_SCHED], nil)
    return 0
  end
  r[F_STATE] = "waiting"
  redis.call("ZADD", Q.w, score(num(r[F_PRIO]), num(r[F_SEQ])), id)
  putjob(Q, id, r)
  emitjob(Q, "waiting", id, r)
  return 1
end

-- retention applies a Retention ("remove", count, age ms) to a final set
-- after job id entered it. It returns true if id itself was removed.
local function retain(Q, set, id, r, keep)
  local k = dec(keep)
  if k[1] == "1" then
    redis.call("ZREM", set, id)
    deljob(Q, id, r)
    return true
  end
  local removed = false
  local count, age = num(k[2]), num(k[3])
  if age > 0 then
    local old = redis.call("ZRANGEBYSCORE", set, "-inf", NOW - age, "LIMIT", 0, 1000)
    for _, oid in ipairs(old) do
      local or_ = getjob(Q, oid)
      redis.call("ZREM", set, oid)
      if or_ then deljob(Q, oid, or_) end
      if oid == id then removed = true end
    end
  end
  if count > 0 then
    local over = redis.call("ZCARD", set) - count
    if over > 0 then
      local old = redis.call("ZRANGE", set, 0, over - 1)
      for _, oid in ipairs(old) do
        local or_ = getjob(Q, oid)
        redis.call("ZREM", set, oid)
        if or_ then deljob(Q, oid, or_) end
        if oid == id then removed = true end
      end
    end
  end
  return removed
end

local function ref(q, id)
  return q .. "\n" .. id
end

local notify_parent

-- fail_job moves a job to failed, notifies its parent and applies its
-- failed retention. r must be decoded and not yet failed.
local function fail_job(Q, id, r, reason, stack)
  redis.call("ZREM", Q.a, id)
  redis.call("ZREM", Q.wc, id)
  redis.call("ZREM", Q.w, id)
  redis.call("ZREM", Q.d, id)
  r[F_STATE] = "failed"
  r[F_REASON] = reason
  if stack then r[F_STACK] = stack end
  r[F_FIN] = NOW
  r[F_TOKEN] = ""
  r[F_LEXP] = 0
  putjob(Q, id, r)
  emit(Q, "failed", id, r[F_NAME], r[F_MADE], nil, reason, nil, nil, r[F_SCHED], nil)
  redis.call("ZADD", Q.f, NOW, id)
  if r[F_PID] ~= "" then
    notify_parent(Q, r[F_PQ], r[F_PID], ref(Q.name, id), "failed", "", reason, r[F_POLICY])
  end
  retain(Q, Q.f, id, r, r[F_KF])
end

-- child_ended applies a child's end to parent pid of this queue.
-- state is "completed", "failed" or "removed" (the dependency is dropped).
local function child_ended(Q, pid, cref, state, result, reason, policy)
  -- deps holds one field per pending dependency: a notice for a child
  -- that is not pending (ended, dropped, detached) changes nothing.
  local dep = pid .. "\n" .. cref
  if redis.call("HDEL", Q.deps, dep) == 0 then
    return
  end
  local p = getjob(Q, pid)
  if not p then
    return
  end
  local waiting = p[F_STATE] == "waiting-children"
  local ready = false
  p[F_PEND] = num(p[F_PEND]) - 1
  if state == "removed" or (state == "failed" and policy == "remove") then
    local kids = dec(p[F_KIDS])
    for i, k in ipairs(kids) do
      if k == cref then
        table.remove(kids, i)
        break
      end
    end
    p[F_KIDS] = enclist(kids)
    ready = p[F_PEND] <= 0
  elseif state == "completed" then
    p[F_OUTC] = p[F_OUTC] .. enc({cref, "completed", result, "", ""}, 5)
    ready = p[F_PEND] <= 0
  else
    local ignored = ""
    if policy == "ignore" or policy == "continue" then ignored = "1" end
    p[F_OUTC] = p[F_OUTC] .. enc({cref, "failed", "", reason, ignored}, 5)
    if policy == "ignore" then
      ready = p[F_PEND] <= 0
    elseif policy == "continue" then
      ready = true
    else
      if waiting then
        local q, cid = string.match(cref, "^(.-)\n(.*)$")
        fail_job(Q, pid, p, "child " .. q .. "/" .. cid .. " failed: " .. reason, nil)
      else
        putjob(Q, pid, p)
      end
      return
    end
  end
  if ready and waiting then
    redis.call("ZREM", Q.wc, pid)
    if make_ready(Q, pid, p, num(p[F_RUNAT])) == 1 then
      wake(Q, 1)
    end
  else
    putjob(Q, pid, p)
  end
end

-- notify_parent reports a child's end to its parent: at once when the
-- parent is in this queue, else through this queue's outbox.
notify_parent = function(Q, pq, pid, cref, state, result, reason, policy)
  if pq == Q.name then
    child_ended(Q, pid, cref, state, result, reason, policy)
  else
    redis.call("RPUSH", Q.o, enc({pq, pid, cref, state, result, reason, policy}, 7))
  end
end

-- remove_tree removes job id (not active) and its non-active descendants in
-- this queue, detaching active ones. It appends a removed event per job.
local function remove_tree(Q, id, r, notify)
  unset(Q, id)
  local kids = dec(r[F_KIDS])
  local me = Q.name
  for _, k in ipairs(kids) do
    local q, cid = string.match(k, "^(.-)\n(.*)$")
    if q == me then
      local c = getjob(Q, cid)
      if c and c[F_PID] == id then
        if c[F_STATE] == "active" then
          c[F_PQ] = ""; c[F_PID] = ""
          putjob(Q, cid, c)
          redis.call("HDEL", Q.deps, id .. "\n" .. k)
        else
          remove_tree(Q, cid, c, false)
        end
      end
    end
  end
  deljob(Q, id, r)
  emit(Q, "removed", id, r[F_NAME], r[F_MADE], nil, nil, nil, nil, r[F_SCHED], nil)
  if notify and r[F_PID] ~= "" and r[F_STATE] ~= "completed" and r[F_STATE] ~= "failed" then
    notify_parent(Q, r[F_PQ], r[F_PID], ref(me, id), "removed", "", "", "")
  end
end

-- iteration creates the pending iteration of scheduler record s at its
-- next free slot, moving through Upcoming past taken slots. It returns s.
local function iteration(Q, s)
  local up = dec(s[S_UPCOMING])
  while true do
    local nx = num(s[S_NEXT])
    if nx == 0 then break end
    if num(s[S_LIMIT]) > 0 and num(s[S_ITER]) >= num(s[S_LIMIT]) then
      s[S_NEXT] = "0"
      break
    end
    local id = "repeat:" .. s[S_ID] .. ":" .. s[S_NEXT]
    if redis.call("HEXISTS", Q.j, id) == 0 then
      local seq = redis.call("HINCRBY", Q.meta, "seq", 1)
      local r = decjob((newjob("waiting", istr(seq), 0, "", "", "", 0, s[S_TAIL])))
      emit(Q, "added", id, r[F_NAME], 0, nil, nil, nil, nil, s[S_ID], nil)
      if make_ready(Q, id, r, nx) == 1 then
        wake(Q, 1)
      else
        delay_notice(Q, id)
      end
      s[S_ITER] = num(s[S_ITER]) + 1
      break
    end
    if #up == 0 then
      s[S_NEXT] = "0"
      break
    end
    s[S_NEXT] = table.remove(up, 1)
  end
  s[S_UPCOMING] = enclist(up)
  return s
end

-- sched_done reports whether a scheduler record has nothing left to run.
local function sched_done(s)
  if num(s[S_NEXT]) ~= 0 then return false end
  if s[S_FINAL] == "1" then return true end
  return num(s[S_LIMIT]) > 0 and num(s[S_ITER]) >= num(s[S_LIMIT])
end

-- is_pending_iteration reports whether job id (record r) is the pending
-- iteration of its scheduler, which only remove_sched may remove.
local function is_pending_iteration(Q, id, r)
  local sid = r[F_SCHED]
  if (sid or "") == "" or (r[F_STATE] ~= "waiting" and r[F_STATE] ~= "delayed") then
    return false
  end
  local raw = redis.call("HGET", Q.s, sid)
  if not raw then
    return false
  end
  return "repeat:" .. sid .. ":" .. dec(raw)[S_NEXT] == id
end

-- pending_iteration returns the id and record of the scheduler's pending
-- iteration job, if there is one.
local function pending_iteration(Q, s)
  if num(s[S_NEXT]) == 0 then return nil end
  local id = "repeat:" .. s[S_ID] .. ":" .. s[S_NEXT]
  local r = getjob(Q, id)
  if r and (r[F_STATE] == "waiting" or r[F_STATE] == "delayed") then
    return id, r
  end
  return nil
end
