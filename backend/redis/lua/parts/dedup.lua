-- dedup.lua: deduplication keys.
--
-- A queue keeps the entry of each key it knows in its dd hash (D fields):
-- the job that took the key, the mode and TTL of the add that took it,
-- and an add kept to run when that job finishes (debounce with
-- KeepLastIfActive), as the add script got it. Whether a key holds is
-- decided when its entry is read (dedup.holder), so an entry may outlive
-- its hold: a job that finishes or is removed lets go of its key at once
-- (dedup.let_go, in transitions.lua), and the adds that use keys sweep
-- the entries whose TTL ran out, which ddx lists by expiry (add.lua).
--
-- The functions are fields of one table: a script has at most 200 locals,
-- those of the parts it includes among them.
--
--- @requires base, record

local dedup = {}

-- dedup.node decodes one node of an add (see add.lua) from its place,
-- head and options.
function dedup.node(pl, head, opts)
  local nd = {q = 1, parent = 0, id = "", delay = 0, prio = 0, head = head, opts = opts, kids = {}, key = "", pl = pl}
  if pl ~= "" then
    local p = dec(pl)
    nd.q, nd.parent, nd.id, nd.delay, nd.prio = tonumber(p[1]), num(p[2]), p[3] or "", num(p[4]), num(p[5])
    nd.lifo = p[6] == "1"
    nd.key, nd.mode, nd.ttl, nd.keep = p[7] or "", p[8] or "", num(p[9]), p[10] or ""
  end
  return nd
end

-- dedup.entry returns the entry of key as a table, or nil when it has
-- none.
function dedup.entry(Q, key)
  local s = redis.call("HGET", Q.dd, key)
  if not s then
    return nil
  end
  return dec(s)
end

-- dedup.holder returns the entry of key when the key holds, with the
-- hot record of its job (nil for a throttle's job that is gone), or nil
-- when the key is free: it has no entry, its TTL ran out, or (but for a
-- throttle) its job is gone, finished, or is not the job that took it.
function dedup.holder(Q, key)
  local e = dedup.entry(Q, key)
  if not e then
    return nil
  end
  local exp = num(e[D.EXPIRES])
  if exp > 0 and exp <= NOW then
    return nil
  end
  local c, h = getjob(Q, e[D.JOB])
  if e[D.MODE] == DEDUP.THROTTLE then
    return e, h
  end
  if not c or c[J_DEDUP] ~= key then
    return nil
  end
  local st = state_of(h)
  if st == ST_COMPLETED or st == ST_FAILED then
    return nil
  end
  return e, h
end

-- dedup.put writes the entry e of key.
function dedup.put(Q, key, e)
  redis.call("HSET", Q.dd, key, enc(e, D.N))
  local exp = num(e[D.EXPIRES])
  if exp > 0 then
    redis.call("ZADD", Q.ddx, exp, key)
  else
    redis.call("ZREM", Q.ddx, key)
  end
end

-- dedup.take makes job id, new, hold key, as the add nd asks.
function dedup.take(Q, key, id, nd)
  local e = {}
  e[D.JOB], e[D.MODE], e[D.KEEP] = id, nd.mode, nd.keep
  if nd.ttl > 0 then
    e[D.EXPIRES] = NOW + nd.ttl
  end
  dedup.put(Q, key, e)
end

-- dedup.del deletes the entry of key.
function dedup.del(Q, key)
  redis.call("HDEL", Q.dd, key)
  redis.call("ZREM", Q.ddx, key)
end
