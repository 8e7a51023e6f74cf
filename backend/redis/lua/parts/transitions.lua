-- transitions.lua: the moves of a job between states, each with its
-- events: the Lua twins of the bbolt store's place, announce, finish,
-- retain and removeTree.
--
--- @requires base, record, dedup, groups, order, events, wake, flows

-- notify_parent tells a flow parent that its child ended; flows.lua sets
-- it.
local notify_parent

-- job_event appends an event of type typ about job id: its name, attempts
-- made and scheduler, and the extra fields of ev.
local function job_event(Q, typ, id, c, h, ev)
  local s = c[J_SCHEDULER]
  if ev == nil and (s == nil or s == "") then
    event(Q, typ, id, c[J_NAME], h[H_MADE], "")
    return
  end
  ev = ev or {}
  ev.type, ev.job, ev.name, ev.made, ev.scheduler = typ, id, c[J_NAME], h[H_MADE], s
  emit(Q, ev)
end

-- leave_active takes active job id, whose job record is c, out of the
-- active set, and counts it out of its group.
local function leave_active(Q, id, c)
  redis.call("ZREM", Q.a, id)
  groups.active(Q, groups.of(c), -1)
end

-- unset takes job id out of the set (or line) of its state.
local function unset(Q, id, c, h)
  local st = state_of(h)
  if st == ST_WAITING then
    unready(Q, id, num(c[J_PRIORITY]), c)
  elseif st == ST_DELAYED then
    redis.call("ZREM", Q.d, id)
  elseif st == ST_ACTIVE then
    leave_active(Q, id, c)
  elseif st == ST_WAITING_CHILDREN then
    redis.call("ZREM", Q.wc, id)
  elseif st == ST_COMPLETED then
    redis.call("ZREM", Q.c, id)
  elseif st == ST_FAILED then
    redis.call("ZREM", Q.f, id)
  end
end

local function clear_lease(h)
  h[H_TOKEN], h[H_LEASE_EXPIRES] = "", ""
end

-- cancelled returns the failure reason of a job that Cancel marked, or
-- nil for a job not marked: the Lua twin of backend.CancelFailure.
local function cancelled(h)
  if h[H_CANCEL] ~= "1" then
    return nil
  end
  local r = h[H_CANCEL_REASON] or ""
  if r == "" then
    return CANCELLED_REASON
  end
  return CANCELLED_REASON .. ": " .. r
end

-- announce puts job id, out of any set, in waiting (at the front of its
-- line when front is set), or in delayed while runat is later, with the
-- event of that state, or the event typ when given. It returns 1 if the
-- job became waiting: the caller then wakes a leaser.
local function announce(Q, id, c, h, runat, front, typ)
  if runat and runat > NOW then
    h[H_STATE], h[H_RUN_AT] = ST_DELAYED, runat
    redis.call("ZADD", Q.d, runat, id)
    puthot(Q, id, h)
    job_event(Q, typ or "delayed", id, c, h, {run_at = runat})
    return 0
  end
  h[H_STATE] = ST_WAITING
  push_ready(Q, id, c, front)
  puthot(Q, id, h)
  job_event(Q, typ or "waiting", id, c, h)
  return 1
end

-- enter puts new job id, whose record is written, in its first state:
-- delayed for delay ms, else waiting in the line of priority prio (at its
-- front with lifo), with the event of that state. It returns the run time
-- of a delayed job, else 0 (the caller then wakes a leaser).
local function enter(Q, id, c, h, delay, prio, lifo)
  if delay > 0 then
    local runat = NOW + delay
    announce(Q, id, c, h, runat, false)
    return runat
  end
  push_ready(Q, id, c, lifo)
  if prio > 0 then
    job_event(Q, "prioritized", id, c, h)
  else
    job_event(Q, "waiting", id, c, h)
  end
  return 0
end

-- dedup.let_go lets go of the deduplication key of job id, which
-- finished (finished set) or is removed, if the job holds it: the key's
-- entry goes, but a throttle's, which holds for its TTL whatever becomes
-- of the job. An add the key kept to run after a finished job is added
-- then, as a new job that holds the key in its turn (its delay counts from
-- now); unless the key's TTL ran out, for a key that let go keeps
-- nothing, or its caller-chosen ID has been taken meanwhile, as an add of
-- that ID would be a duplicate.
function dedup.let_go(Q, id, c, finished)
  local key = c[J_DEDUP]
  if key == nil or key == "" then
    return
  end
  local e = dedup.entry(Q, key)
  if not e or e[D.JOB] ~= id or e[D.MODE] == DEDUP.THROTTLE then
    return
  end
  local kept, exp = e[D.NEXT], num(e[D.EXPIRES])
  if not (finished and kept and kept ~= "" and (exp == 0 or exp > NOW)) then
    dedup.del(Q, key)
    return
  end
  local k = dec(kept)
  local nd = dedup.node(k[1], k[2], k[3] or "")
  local nid, seqs = nd.id, ""
  if nid ~= "" and redis.call("HEXISTS", Q.j, nid) == 1 then
    dedup.del(Q, key)
    return
  end
  local seq = redis.call("HINCRBY", Q.meta, "seq", 1)
  if nid == "" then
    nid = istr(seq)
  else
    seqs = istr(seq)
  end
  local rec = newrec(nd.head, seqs, "", "", "", nd.opts)
  redis.call("HSET", Q.j, nid, rec)
  TOUCHED[nid] = true
  local nc, nh = dec(rec, J_DATA), {}
  job_event(Q, "added", nid, nc, nh)
  if enter(Q, nid, nc, nh, nd.delay, nd.prio, nd.lifo) > 0 then
    delay_notice(Q, nid)
  else
    wake(Q, 1)
  end
  dedup.take(Q, key, nid, nd)
end

-- remove_job deletes job id, out of its set already, with a removed
-- event.
local function remove_job(Q, id, c, h)
  dedup.let_go(Q, id, c, false)
  deljob(Q, id, c, h)
  job_event(Q, "removed", id, c, h)
end

-- retain applies a retention (a record of remove, count and age ms) to
-- set, the final set job id entered; it returns true if it removed id.
local function retain(Q, set, id, c, h, keep)
  if keep == nil or keep == "" then
    return false
  end
  local k = dec(keep)
  if k[1] == "1" then
    redis.call("ZREM", set, id)
    remove_job(Q, id, c, h)
    return true
  end
  local removed = false
  local drop = function(oid)
    redis.call("ZREM", set, oid)
    local oc, oh = getjob(Q, oid)
    if oc then
      remove_job(Q, oid, oc, oh)
    end
    if oid == id then
      removed = true
    end
  end
  local count, age = num(k[2]), num(k[3])
  if age > 0 then
    for _, oid in ipairs(redis.call("ZRANGEBYSCORE", set, "-inf", NOW - age, "LIMIT", 0, 1000)) do
      drop(oid)
    end
  end
  if count > 0 then
    local over = redis.call("ZCARD", set) - count
    if over > 0 then
      for _, oid in ipairs(redis.call("ZRANGE", set, 0, over - 1)) do
        drop(oid)
      end
    end
  end
  return removed
end

-- finish moves job id, out of its set already, to completed or failed
-- with its event (or the event typ when given), tells its flow parent,
-- lets go of its deduplication key, and applies the retention of that
-- state.
local function finish(Q, id, c, h, state, result, reason, stack, typ)
  clear_lease(h)
  -- A cancel mark is for a running job only.
  h[H_CANCEL], h[H_CANCEL_REASON] = "", ""
  h[H_STATE], h[H_FINISHED] = state, NOWS
  local set, keep = Q.c, c[J_KEEP_COMPLETED]
  if state == ST_COMPLETED then
    h[H_RESULT] = result
    puthot(Q, id, h)
    job_event(Q, typ or "completed", id, c, h, {result = result})
  else
    set, keep = Q.f, c[J_KEEP_FAILED]
    h[H_REASON] = reason
    if stack then
      h[H_STACK] = stack
    end
    puthot(Q, id, h)
    job_event(Q, typ or "failed", id, c, h, {reason = reason})
  end
  redis.call("ZADD", set, NOW, id)
  local pid = c[J_PARENT_ID]
  if pid and pid ~= "" then
    local st = "completed"
    if state == ST_FAILED then
      st = "failed"
    end
    notify_parent(Q, c[J_PARENT_QUEUE], pid, ref(Q.name, id), st, result or "", reason or "", c[J_POLICY] or "")
  end
  dedup.let_go(Q, id, c, true)
  retain(Q, set, id, c, h, keep)
end

-- remove_tree removes job id (not active) and its descendants in this
-- queue that are not active, detaching the active ones; each removed job
-- gets a removed event. With notify, a pending job tells its parent.
local function remove_tree(Q, id, c, h, notify)
  unset(Q, id, c, h)
  local kids = c[J_CHILDREN]
  if kids and kids ~= "" then
    for _, k in ipairs(dec(kids)) do
      local q, cid = unref(k)
      if q == Q.name then
        local cc, ch = getjob(Q, cid)
        if cc and cc[J_PARENT_ID] == id then
          if state_of(ch) == ST_ACTIVE then
            -- Detached: it finishes on its own and tells nobody.
            local full = dec(redis.call("HGET", Q.j, cid))
            full[J_PARENT_QUEUE], full[J_PARENT_ID] = "", ""
            TOUCHED[cid] = true
            redis.call("HSET", Q.j, cid, enc(full, J_N))
          else
            remove_tree(Q, cid, cc, ch, false)
          end
        end
      end
    end
  end
  remove_job(Q, id, c, h)
  local st = state_of(h)
  local pid = c[J_PARENT_ID]
  if notify and pid and pid ~= "" and st ~= ST_COMPLETED and st ~= ST_FAILED then
    notify_parent(Q, c[J_PARENT_QUEUE], pid, ref(Q.name, id), "removed", "", "", "")
  end
end
