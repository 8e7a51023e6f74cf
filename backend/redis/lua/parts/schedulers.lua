-- schedulers.lua: job schedulers and their iterations: the Lua twins of
-- the bbolt store's placeIteration, nextIteration and pendingIteration.
-- A scheduler record (S_ fields) keeps the plan of run times; its one
-- pending iteration, at S.NEXT, has the ID ITERATION_PREFIX .. scheduler
-- ID .. ":" .. S.NEXT. Its template is a job record of the iterations'
-- name, data and options.
--
--- @requires base, record, order, events, wake, transitions

local function iteration_id(sid, next)
  return ITERATION_PREFIX .. sid .. ":" .. next
end

-- place_iteration creates the pending iteration of scheduler record s at
-- its next free slot, moving through its upcoming times past slots whose
-- ID is taken (by a job that ran before). It returns s.
local function place_iteration(Q, s)
  local up = dec(s[S.UPCOMING] or "")
  while num(s[S.NEXT]) ~= 0 do
    local at = num(s[S.NEXT])
    local id = iteration_id(s[S.ID], s[S.NEXT])
    if redis.call("HEXISTS", Q.j, id) == 0 then
      local c = dec(s[S.TEMPLATE])
      c[J_CREATED], c[J_SEQ] = NOWS, redis.call("HINCRBY", Q.meta, "seq", 1)
      redis.call("HSET", Q.j, id, enc(c, J_N))
      local h = {}
      job_event(Q, "added", id, c, h)
      if announce(Q, id, c, h, at, false) == 1 then
        wake(Q, 1)
      else
        delay_notice(Q, id)
      end
      s[S.ITERATIONS] = num(s[S.ITERATIONS]) + 1
      break
    end
    s[S.NEXT] = table.remove(up, 1) or ""
  end
  s[S.UPCOMING] = enclist(up)
  return s
end

-- save_scheduler writes s, or removes it, with its event, when it has
-- nothing left to run: no next run, and every remaining one was planned.
local function save_scheduler(Q, s)
  if num(s[S.NEXT]) == 0 and s[S.FINAL] == "1" then
    redis.call("HDEL", Q.s, s[S.ID])
    emit(Q, {type = "scheduler-removed", scheduler = s[S.ID]})
  else
    redis.call("HSET", Q.s, s[S.ID], enc(s, S.N))
  end
end

-- next_iteration creates the next iteration of scheduler sid when job id,
-- just leased, is its current one.
local function next_iteration(Q, sid, id)
  local raw = redis.call("HGET", Q.s, sid)
  if not raw then
    return
  end
  local s = dec(raw)
  if iteration_id(sid, s[S.NEXT] or "") ~= id then
    return
  end
  local up = dec(s[S.UPCOMING] or "")
  s[S.NEXT] = table.remove(up, 1) or ""
  s[S.UPCOMING] = enclist(up)
  s = place_iteration(Q, s)
  s[S.REVISION] = num(s[S.REVISION]) + 1
  s[S.UPDATED] = NOW
  save_scheduler(Q, s)
end

-- pending_iteration returns the ID and records of the pending iteration
-- of scheduler record s, if it has one.
local function pending_iteration(Q, s)
  if num(s[S.NEXT]) == 0 then
    return nil
  end
  local id = iteration_id(s[S.ID], s[S.NEXT])
  local c, h = getjob(Q, id)
  if c then
    local st = state_of(h)
    if st == ST_WAITING or st == ST_DELAYED then
      return id, c, h
    end
  end
  return nil
end

-- is_pending_iteration reports whether job id is the pending iteration of
-- its scheduler, which only remove_sched may remove.
local function is_pending_iteration(Q, id, c, h)
  local sid = c[J_SCHEDULER]
  local st = state_of(h)
  if sid == nil or sid == "" or (st ~= ST_WAITING and st ~= ST_DELAYED) then
    return false
  end
  local raw = redis.call("HGET", Q.s, sid)
  if not raw then
    return false
  end
  return iteration_id(sid, dec(raw)[S.NEXT] or "") == id
end
