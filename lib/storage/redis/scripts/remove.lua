--[[
  remove: delete a job that is not active, with every key kept for it: its hash and logs, its entry in every state
  set and in the listing set, the debounce or replace key naming it, and for a flow its own list of children (they
  lose their parent) or its entry in its parent's list (a parent waiting for its children counts one child fewer and
  runs once the others have ended). A window dedupe key expires with its window: it names no job any more, so the
  next insert with that key creates a job (see insert.lua).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  KEYS[2]  optional "{<prefix>}:ids" (standalone server only; on a Cluster the client removes the index entry)
  ARGV[1]  job id; ARGV[2] wake-up channel

  Returns { 1, job snapshot (FIELDS values, see common.lua) as it was } when deleted, { 0, 'active' } when the job
  is active, { 0, 'cross-slot' } on a Cluster when its parent or a child is in another queue (another hash slot this
  script cannot reach; nothing changed either way), or nil when it does not exist. Publishes the parent's queue when
  a parent was released.
]]
-- @include common

local base, idsKey, id, channel = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local jk = jobKey(base, id)
local f = redis.call('HMGET', jk, 'state', 'dd', 'parent', 'pq', 'task', 'prio', 'group')
table.insert(f, 5, queueOf(base))
local state = f[1]
if not state then return nil end
if state == 'active' then return { 0, state } end
local children = redis.call('LRANGE', base .. ':kids:' .. id, 0, -1)
if not idsKey then
  -- A Cluster: only this queue's slot is reachable.
  if f[3] and f[4] ~= f[5] then return { 0, 'cross-slot' } end
  for _, entry in ipairs(children) do
    if string.match(entry, '^(.*)\n') ~= f[5] then return { 0, 'cross-slot' } end
  end
end
local removed = snapshot(base, jk, id)
local prefix = string.match(base, '^{([^:]+):')
tally(base, f[6], state, nil)

-- Every set a job that is not active can be in; a ZREM of a missing member costs a lookup. A waiting job leaves its
-- priority's set, or its group's (and the group the turns, when it was the last one waiting there).
if state == 'waiting' then unwait(base, id, f[7], f[8]) end
for _, set in ipairs({ ':scheduled', ':wc', ':completed', ':failed', ':all' }) do redis.call('ZREM', base .. set, id) end
if state == 'cancelled' then redis.call('HINCRBY', base .. ':meta', 'cancelled', -1) end
if f[2] and redis.call('GET', base .. ':dd:' .. f[2]) == id then redis.call('DEL', base .. ':dd:' .. f[2]) end

-- A parent's children stay, without a parent (on a Cluster they are in this queue: see the check above).
for _, entry in ipairs(children) do
  local childQueue, childId = string.match(entry, '^(.*)\n(.*)$')
  local ck = jobKey('{' .. prefix .. ':' .. childQueue .. '}', childId)
  if redis.call('HGET', ck, 'parent') == id then redis.call('HDEL', ck, 'parent', 'onFail', 'pq') end
end
redis.call('DEL', jk, base .. ':logs:' .. id, base .. ':kids:' .. id, base .. ':ended:' .. id)
if idsKey then redis.call('HDEL', idsKey, id) end

-- A child leaves its parent's list, as if it had never been added.
if f[3] then
  local parentId, pbase = f[3], '{' .. prefix .. ':' .. f[4] .. '}'
  local endedKey = pbase .. ':ended:' .. parentId
  redis.call('LREM', pbase .. ':kids:' .. parentId, 1, f[5] .. '\n' .. id)
  redis.call('SREM', endedKey, id)
  local pk = jobKey(pbase, parentId)
  local p = redis.call('HMGET', pk, 'state', 'kids', 'runAt')
  if p[1] == 'waiting-children' then
    local kids = tonumber(p[2]) - 1
    redis.call('HSET', pk, 'kids', S(kids))
    if redis.call('SCARD', endedKey) >= kids then
      local now = clock()
      redis.call('ZREM', pbase .. ':wc', parentId)
      if requeue(pbase, pk, parentId, math.max(tonumber(p[3] or '0'), now), now, 'waiting-children') then redis.call('PUBLISH', channel, f[4]) end
    end
  end
end
return { 1, removed }
