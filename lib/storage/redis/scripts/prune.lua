--[[
  prune: delete finished jobs the client picked (oldest first, across queues) for retention. A job that left the
  finished set meanwhile (retried by hand) is kept.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  KEYS[2]  optional "{<prefix>}:ids" (standalone server only; on a Cluster the client removes the index entries)
  ARGV[1]  'completed' or 'failed' (the set the ids come from; it holds cancelled jobs too)
  ARGV[2..] job ids

  Returns the ids deleted.
]]
-- @include common

local base, idsKey, kind = KEYS[1], KEYS[2], ARGV[1]
local set = base .. ':' .. kind
local deleted = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', set, id) then
    local jk = jobKey(base, id)
    local f = redis.call('HMGET', jk, 'state', 'dd', 'task')
    if f[1] == 'cancelled' then redis.call('HINCRBY', base .. ':meta', 'cancelled', -1) end
    tally(base, f[3], f[1], nil)
    -- A debounce or replace key still naming this job goes with it (a window key expires by itself).
    if f[2] and redis.call('GET', base .. ':dd:' .. f[2]) == id then redis.call('DEL', base .. ':dd:' .. f[2]) end
    redis.call('DEL', jk, base .. ':logs:' .. id, base .. ':kids:' .. id, base .. ':ended:' .. id)
    redis.call('ZREM', set, id)
    redis.call('ZREM', base .. ':all', id)
    if idsKey then redis.call('HDEL', idsKey, id) end
    deleted[#deleted + 1] = id
  end
end
return deleted
