--[[
  release: hand claimed jobs back without counting their attempt (graceful shutdown, a pause, a rate limit the
  handler reported): to waiting, or scheduled when a delay is given.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  wake-up channel; ARGV[2] queue name
  ARGV[3..] triples: job id, fencing token counter, delay in ms (0 = waiting at once)

  Returns the number of jobs released (stale tokens are ignored). Publishes the queue name when any is waiting.
]]
-- @include common

local base = KEYS[1]
local now = clock()
local released, woken = 0, false
for i = 3, #ARGV, 3 do
  local id = ARGV[i]
  local jk = owned(base, id, ARGV[i + 1])
  if jk then
    deactivate(base, jk, id)
    local attempt = tonumber(redis.call('HGET', jk, 'attempt'))
    redis.call('HSET', jk, 'attempt', S(math.max(0, attempt - 1)))
    if requeue(base, jk, id, now + tonumber(ARGV[i + 2]), now, 'active') then woken = true end
    released = released + 1
  end
end
if woken then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return released
