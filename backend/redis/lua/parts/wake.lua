-- wake.lua: wake tokens for idle leasers, who wait on BLPOP of the wake
-- list.
--
--- @requires base, order

-- wake lets up to n idle leasers through: one token each, at most as many
-- tokens as ready jobs plus one (a notice of an earlier due time).
local function wake(Q, n)
  if redis.call("HGET", Q.meta, "paused") == "1" then
    return
  end
  local ready = count_ready(Q)
  if n > ready + 1 then
    n = ready + 1
  end
  local b = {}
  for i = 1, n do
    b[#b + 1] = "1"
    if #b == 1000 or i == n then
      redis.call("LPUSH", Q.wake, unpack(b))
      b = {}
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
