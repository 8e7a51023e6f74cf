-- change.lua: a change of a waiting or delayed job, which Change makes
-- and a debounce's add (add.lua).
--
--- @requires base, record, order, events, wake, transitions

-- change_job changes job id, waiting or delayed (state st), with a
-- changed event: c is its whole job record (dec(s), its data included)
-- and h its hot record; prio, at (ms: at or before NOW makes it waiting)
-- and data are nil when unchanged. A job whose place changes (a new
-- priority, delayed, or made waiting) goes to the back of its line.
local function change_job(Q, id, c, h, st, prio, at, data)
  local oldprio, oldat = num(c[J_PRIORITY]), 0
  if st == ST_DELAYED then
    -- (a waiting job's hot record may keep the run time it had before)
    oldat = num(h[H_RUN_AT])
  end
  local prionum = prio or oldprio
  at = at or oldat
  if prio then
    c[J_PRIORITY] = prio
  end
  if data then
    c[J_DATA] = data
  end
  if prio or data then
    redis.call("HSET", Q.j, id, enc(c, J_N))
    TOUCHED[id] = true
  end
  local delayed = at > NOW
  local moved = prionum ~= oldprio or delayed ~= (st == ST_DELAYED) or (delayed and at ~= oldat)
  if moved then
    if st == ST_WAITING then
      unready(Q, id, oldprio, c)
    else
      redis.call("ZREM", Q.d, id)
    end
    if not delayed then
      h[H_RUN_AT] = ""
    end
    if announce(Q, id, c, h, at, false, "changed") == 1 then
      wake(Q, 1)
    else
      delay_notice(Q, id)
    end
  elseif delayed then
    job_event(Q, "changed", id, c, h, {run_at = at})
  else
    job_event(Q, "changed", id, c, h)
  end
end
