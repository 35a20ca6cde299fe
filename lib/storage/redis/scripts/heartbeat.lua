--[[
  heartbeat: extend the leases a worker still holds in one queue to now + leaseMs (Redis clock).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  leaseMs
  ARGV[2..] pairs: job id, fencing token counter

  Returns the ids whose lease is no longer held (taken over after expiry, cancelled, finished or gone).
]]
-- @include common

local base = KEYS[1]
local now = clock()
local lease = S(now + tonumber(ARGV[1]))
local lost = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local jk = owned(base, id, ARGV[i + 1])
  if jk then
    redis.call('HSET', jk, 'lease', lease)
    redis.call('ZADD', base .. ':active', lease, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
