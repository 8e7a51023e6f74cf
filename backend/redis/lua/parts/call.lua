-- call.lua: the start and end of every script call, and resent calls.
--
-- KEYS: every script passes one or more queue key sets of NK keys each
--   (see layout.lua); KEYS[1..NK] is the script's own queue. A script that
--   writes passes one more key after them: its reply key (see replayed),
--   in the slot of its own queue.
-- ARGV: every script starts with ARGV[1] = now (Unix ms from the caller's
--   clock), ARGV[2] = event retention count (0: none), ARGV[3] = event
--   retention age in ms (0: none), ARGV[4] = how long to keep the reply
--   key, in ms (0: not at all). Script arguments start at ARGV[5]; most
--   scripts then take ARGV[5] = the name of their queue.
--
--- @requires base, events

-- The state of one call, set by begin: in a function library it outlives
-- the call, so begin sets all of it afresh.
local RKEY, RTTL

-- begin starts a call with its KEYS and ARGV. Every script body runs
-- after it.
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
  EVBUF, EVQ, TOUCHED = {}, {}, {}
  LP, ISTR = setmetatable({}, LP_MT), setmetatable({}, ISTR_MT)
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

-- done appends the events the call gathered and returns its reply; kept,
-- if not nil, is what a resend of the call will get from replayed. Every
-- script ends with "return done(reply)" or "return done(reply, kept)".
local function done(reply, kept)
  if kept and RKEY then
    redis.call("SET", RKEY, kept, "PX", RTTL)
  end
  flush_events()
  return reply
end
