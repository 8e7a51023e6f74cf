-- base.lua: numbers and strings, records of length-prefixed fields, and
-- commands over many jobs in batches.

-- The time of the call (Unix ms from the caller's clock), as a number and
-- as the string it came as; begin sets them.
local NOW, NOWS

-- TOUCHED holds the IDs of the jobs whose records the call wrote or
-- removed, so that a script that read records in advance knows which to
-- read again. begin makes it afresh.
local TOUCHED

local function num(s)
  return tonumber(s) or 0
end

-- Number-to-string conversions are slow in Lua (a formatted print each),
-- and the scripts make the same few over and over: the length prefixes
-- of fields and small counts. LP and ISTR remember them for one call
-- (begin makes them afresh, so that they never grow without bound).
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

-- istr returns the string of a field value: a string as it is, a number
-- in decimal, 0 and nil as "" (the default of every numeric field).
local function istr(x)
  if type(x) == "number" then
    if x == 0 then
      return ""
    end
    if x > 0 and x < 1000 then
      return ISTR[x]
    end
    return string.format("%d", x)
  end
  return x or ""
end

-- lp returns a field value with its length prefix.
local function lp(v)
  v = istr(v)
  return LP[#v] .. v
end

-- dec splits a record into its fields ("" for the record of none). The
-- field at index skip, if given, is left out (nil): a job's data, which
-- the scripts never read and need not copy.
local function dec(s, skip)
  local t, i, n, len = {}, 1, 0, #s
  while i <= len do
    local c = string.find(s, ":", i, true)
    local l = tonumber(string.sub(s, i, c - 1))
    n = n + 1
    if n ~= skip then
      t[n] = string.sub(s, c + 1, c + l)
    end
    i = c + l + 1
  end
  return t
end

-- field1 returns the first field of a record, without splitting the rest.
local function field1(s)
  local c = string.find(s, ":", 1, true)
  return string.sub(s, c + 1, c + tonumber(string.sub(s, 1, c - 1)))
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

-- enc encodes fields 1 to n of t as a record, leaving out the trailing
-- ones that are empty (nil, "" or 0).
local function enc(t, n)
  local v = t[n]
  while n > 0 and (v == nil or v == "" or v == 0) do
    n = n - 1
    v = t[n]
  end
  if n == 0 then
    return ""
  end
  local p = {}
  for i = 1, n do
    v = t[i]
    if type(v) ~= "string" then
      v = istr(v)
    end
    p[i] = LP[#v] .. v
  end
  if n <= 100 then
    return table.concat(p)
  end
  return concat(p)
end

-- around encodes fields 1 to n of t as a record in which field k varies:
-- it returns the encoded fields before k and after it (trailing empty ones
-- left out), so that before .. lp(v) .. after is the record with field k
-- set to v, for one template and many values.
local function around(t, n, k)
  local before = {}
  for i = 1, k - 1 do
    before[i] = lp(t[i])
  end
  local after = {}
  while n > k and istr(t[n]) == "" do
    n = n - 1
  end
  for i = k + 1, n do
    after[#after + 1] = lp(t[i])
  end
  return table.concat(before), table.concat(after)
end

local function enclist(t)
  return enc(t, #t)
end

-- batch gathers the arguments of one command over many jobs, such as
-- HSET key id1 rec1 id2 rec2, and sends them in chunks.
local function batch(cmd, key)
  return {cmd = cmd, key = key, args = {}}
end

-- push appends the arguments of one job to a batch: one for a command such
-- as RPUSH, or two (field and value, score and member).
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

-- ref names a job of a queue, as flow links do.
local function ref(q, id)
  return q .. "\n" .. id
end

local function unref(r)
  return string.match(r, "^(.-)\n(.*)$")
end
