--[[
  release: hand claimed jobs back to waiting without counting their attempt (graceful shutdown).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  wake-up channel; ARGV[2] queue name
  ARGV[3..] pairs: job id, fencing token counter

  Returns the number of jobs released (stale tokens are ignored). Publishes the queue name when any was.
]]
-- @include common

local base = KEYS[1]
local now = clock()
local released = 0
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local jk = owned(base, id, ARGV[i + 1])
  if jk then
    deactivate(base, jk, id)
    local attempt = tonumber(redis.call('HGET', jk, 'attempt'))
    redis.call('HSET', jk, 'attempt', S(math.max(0, attempt - 1)))
    requeue(base, jk, id, now, now)
    released = released + 1
  end
end
if released > 0 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return released
