--[[
  run-now: make a scheduled job (delayed, or backing off before a retry) waiting now, ready at the store's now; its
  attempts and history are unchanged. Other states are returned unchanged.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  wake-up channel; ARGV[2] queue name; ARGV[3] job id

  Returns job snapshot (FIELDS values, see common.lua), or nil when the job does not exist. Publishes when it moved.
]]
-- @include common

local base, id = KEYS[1], ARGV[3]
local jk = jobKey(base, id)
local state = redis.call('HGET', jk, 'state')
if not state then return nil end
if state == 'scheduled' then
  local now = clock()
  redis.call('ZREM', base .. ':scheduled', id)
  requeue(base, jk, id, now, now, 'scheduled')
  redis.call('PUBLISH', ARGV[1], ARGV[2])
end
return snapshot(base, jk, id)
