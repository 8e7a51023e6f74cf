-- events.lua: the events of a call, gathered per queue and appended when
-- the call ends (done), as one stream entry per queue: its ID is "<n>-0"
-- where n is the ID of its last event, and its fields are ts (the time of
-- every event in it), c (how many events) and d, the events one after the
-- other, each a type code (EV_CODE) and four fields: job ID, name,
-- attempts made and x, the record of the X_ fields ("" when all are
-- empty). One entry per call instead of one per event keeps a bulk of
-- many jobs cheap. The log is trimmed approximately by MINID; readers hide
-- events beyond the retention count, so at most that many are visible.
--
--- @requires base

local EVMAX, EVAGE, EVBUF, EVQ

-- event appends an event to the buffer of queue Q: typ is its type, x
-- the record of its X_ fields ("" when all are empty).
local function event(Q, typ, id, name, made, x)
  local b = EVBUF[Q.e]
  if not b then
    b = {n = 0, parts = {}}
    EVBUF[Q.e] = b
    EVQ[#EVQ + 1] = Q
  end
  b.n = b.n + 1
  local p = b.parts
  p[#p + 1] = EV_CODE[typ] .. lp(id) .. lp(name) .. lp(made) .. LP[#x] .. x
end

-- emit appends an event to the buffer of queue Q. ev names its fields:
-- type, and as they apply job, name, made, result, reason, progress,
-- run_at, scheduler, count, data, key and group.
local function emit(Q, ev)
  local t = {}
  t[X.RESULT], t[X.REASON], t[X.PROGRESS] = ev.result, ev.reason, ev.progress
  t[X.RUN_AT], t[X.SCHEDULER], t[X.COUNT], t[X.DATA], t[X.KEY] = ev.run_at, ev.scheduler, ev.count, ev.data, ev.key
  t[X.GROUP] = ev.group
  event(Q, ev.type, ev.job, ev.name, ev.made, enc(t, X.N))
end

-- flush_events appends the events gathered, one stream entry per queue.
local function flush_events()
  for _, Q in ipairs(EVQ) do
    local b = EVBUF[Q.e]
    local last = redis.call("HINCRBY", Q.meta, "ev", b.n)
    local data = concat(b.parts)
    if EVMAX > 0 then
      redis.call("XADD", Q.e, "MINID", "~", string.format("%d-0", math.max(last - EVMAX + 1, 0)),
        string.format("%d-0", last), "ts", NOWS, "c", b.n, "d", data)
    else
      redis.call("XADD", Q.e, string.format("%d-0", last), "ts", NOWS, "c", b.n, "d", data)
    end
  end
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
