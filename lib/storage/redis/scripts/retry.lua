--[[
  retry: run a failed or cancelled job again with a fresh set of attempts (attempt back to 0; its errors are kept).
  Other states are returned unchanged.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  wake-up channel; ARGV[2] queue name; ARGV[3] job id

  Returns job snapshot (FIELDS values, see common.lua), or nil when the job does not exist. Publishes when it was retried.
]]
-- @include common

local base, id = KEYS[1], ARGV[3]
local jk = jobKey(base, id)
local state = redis.call('HGET', jk, 'state')
if not state then return nil end
if state == 'failed' or state == 'cancelled' then
  local now = clock()
  redis.call('ZREM', base .. ':failed', id)
  if state == 'cancelled' then redis.call('HINCRBY', base .. ':meta', 'cancelled', -1) end
  redis.call('HSET', jk, 'attempt', '0', 'stalls', '0')
  redis.call('HDEL', jk, 'finished')
  requeue(base, jk, id, now, now, state)
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return snapshot(base, jk, id)
