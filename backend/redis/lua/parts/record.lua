-- record.lua: a job's two records. The job record (j hash, J_ fields) is
-- written when the job is added and not changed after, but for a dropped
-- child; the hot record (h hash, H_ fields) holds what changes as the job
-- lives. A waiting job that nothing has touched has no hot record, so a
-- backlog costs one small record per job.
--
--- @requires base

local WAITING_ONLY = "1:" .. ST_WAITING

-- getjob returns job id's records as tables: the job record (nil when
-- there is no such job) and the hot record ({} when it has none).
local function getjob(Q, id)
  local s = redis.call("HGET", Q.j, id)
  if not s then
    return nil
  end
  return dec(s, J_DATA), dec(redis.call("HGET", Q.h, id) or "")
end

-- NO_OPTS is the fields from J_SEQ + 1 to J_META - 1 of a job record
-- that has none of them. (A function library is loaded without the
-- string library: its top level concatenates.)
local NO_OPTS = ""
for _ = J_SEQ + 1, J_META - 1 do
  NO_OPTS = NO_OPTS .. "0:"
end

-- plain_name returns the name of a job whose record has no field after
-- J_SEQ but, maybe, its metadata and its group (no flow link, option,
-- scheduler or deduplication key: the layout puts those last, and
-- metadata and the group, which the transitions of such a job need not
-- read but for its group's count, after them), and its group (nil for a
-- job without one); or nil for any other job. It reads the record
-- without splitting it.
local function plain_name(s)
  local i, len, name = 1, #s, nil
  for f = 1, J_SEQ do
    if i > len then
      return name
    end
    local c = string.find(s, ":", i, true)
    local l = tonumber(string.sub(s, i, c - 1))
    if f == J_NAME then
      name = string.sub(s, c + 1, c + l)
    end
    i = c + l + 1
  end
  -- The empty fields before the metadata, then the metadata, the empty
  -- fields before the group, then the group. A job with metadata has
  -- them all, so the run of empty fields before it is compared at once.
  if i > len then
    return name
  end
  local first = J_SEQ + 1
  if string.sub(s, i, i + #NO_OPTS - 1) == NO_OPTS then
    i, first = i + #NO_OPTS, J_META
  end
  for f = first, J_GROUP do
    if i > len then
      return name
    end
    if f == J_META or f == J_GROUP then
      local c = string.find(s, ":", i, true)
      local l = tonumber(string.sub(s, i, c - 1))
      if f == J_GROUP then
        if c + l < len then
          return nil
        end
        if l == 0 then
          return name
        end
        return name, string.sub(s, c + 1, c + l)
      end
      i = c + l + 1
    elseif string.sub(s, i, i + 1) ~= "0:" then
      return nil
    else
      i = i + 2
    end
  end
  return nil
end

-- state_of returns the state code of a hot record.
local function state_of(h)
  local s = h[H_STATE]
  if s == nil or s == "" then
    return ST_WAITING
  end
  return s
end

-- job_in returns job id's records, as getjob does, when the job is in one
-- of the states given (state codes; want names them for the error). Else
-- it returns nil, nil and the error reply for the script to return:
-- ERR_NOTFOUND or ERR_WRONGSTATE.
local function job_in(Q, id, want, ...)
  local c, h = getjob(Q, id)
  if not c then
    return nil, nil, redis.error_reply(ERR_NOTFOUND .. " job " .. id .. " in " .. Q.name)
  end
  local st = state_of(h)
  for _, ok in ipairs({...}) do
    if st == ok then
      return c, h
    end
  end
  return nil, nil, redis.error_reply(ERR_WRONGSTATE .. " " .. CODE_STATE[st] .. " " .. want)
end

-- puthot writes job id's hot record; one that says no more than
-- "waiting" is none.
local function puthot(Q, id, h)
  TOUCHED[id] = true
  local s = enc(h, H_N)
  if s == "" or s == WAITING_ONLY then
    redis.call("HDEL", Q.h, id)
  else
    redis.call("HSET", Q.h, id, s)
  end
end

-- deljob removes job id's records, log lines and the dependencies of its
-- children (not its set entry).
local function deljob(Q, id, c, h)
  TOUCHED[id] = true
  redis.call("HDEL", Q.j, id)
  redis.call("HDEL", Q.h, id)
  local kids = c[J_CHILDREN]
  if kids and kids ~= "" then
    for _, k in ipairs(dec(kids)) do
      redis.call("HDEL", Q.deps, id .. "\n" .. k)
    end
  end
  for i = 1, num(h[H_LOGS]) do
    redis.call("HDEL", Q.logs, id .. "\n" .. i)
  end
end

-- newrec returns the job record of a new job: head holds its name and
-- data, opts its fields from J_PRIORITY on (both encoded by the Go side),
-- and the rest is the store's. seq is "" for a job whose ID is its number.
local function newrec(head, seq, pq, pid, kids, opts)
  local s = head .. lp(NOWS)
  if opts ~= "" then
    return s .. lp(seq) .. lp(pq) .. lp(pid) .. lp(kids) .. opts
  end
  local rest = {seq, pq, pid, kids}
  local n = 4
  while n > 0 and rest[n] == "" do
    n = n - 1
  end
  for i = 1, n do
    s = s .. lp(rest[i])
  end
  return s
end
