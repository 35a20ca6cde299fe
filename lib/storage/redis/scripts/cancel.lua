--[[
  cancel: a waiting or scheduled job never runs; an active job loses its lease (every later write of the old token is
  fenced out) and its id is published on the cancel channel, so the worker holding it aborts it now instead of at
  its next heartbeat. Final jobs are returned unchanged.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  job id
  ARGV[2]  cancel channel
  ARGV[3]  messages.childFailed in parts (JSON, see includes/flows.lua)

  Returns job snapshot (FIELDS values, see common.lua) after the change, or nil when the job does not exist.
]]
-- @include common
-- @include flows

local base, id = KEYS[1], ARGV[1]
local jk = jobKey(base, id)
local f = redis.call('HMGET', jk, 'state', 'prio', 'group')
local state = f[1]
if not state then return nil end
if state == 'waiting' or state == 'scheduled' or state == 'active' or state == 'waiting-children' then
  local now = clock()
  if state == 'waiting' then
    unwait(base, id, f[2], f[3])
  elseif state == 'waiting-children' then
    redis.call('ZREM', base .. ':wc', id)
  elseif state == 'scheduled' then
    redis.call('ZREM', base .. ':scheduled', id)
  else
    deactivate(base, jk, id)
  end
  finish(base, jk, id, 'cancelled', now, state)
  childEnded(base, jk, id, 'cancelled', now, ARGV[3])
  -- Only an active job has a worker to tell; the message goes out only if the script's writes do (atomic).
  if state == 'active' then redis.call('PUBLISH', ARGV[2], id) end
end
return snapshot(base, jk, id)
