--[[
  Flows (after common): a child's end releases or fails its parent in the same script as the child's final write.

  Keys of a flow, under the parent's queue base P = "{<prefix>:<parent queue>}":
    P:wc              sorted set of the queue's parents in 'waiting-children' (score: creation order), for counts
    P:kids:<parent>   list of "<queue>\n<id>" of the parent's children, in insertion order
    P:ended:<parent>  set of the ids of its children that ended
  A parent's hash holds 'kids' (how many children it waits for); a child's holds 'parent', 'onFail' and 'pq' (the
  parent's queue). Flows reach across queues, so they run on a standalone server only (the store turns them off on a
  Cluster, where a script may touch one slot).
]]

-- A child ended (state 'completed', 'failed' or 'cancelled'): when it has a parent still waiting for its children,
-- fail the parent (a failed child whose onFail is 'fail', with an error entry built from `failMessage`, the parts
-- of messages.childFailed around the child id, task and state) or, once every child ended, make it waiting (or
-- scheduled) and wake its queue. A failed parent ends in turn for its own parent.
local function childEnded(base, jk, id, state, now, failMessage)
  local f = redis.call('HMGET', jk, 'parent', 'onFail', 'pq', 'task')
  local parentId = f[1]
  if not parentId then return end
  local prefix = string.match(base, '^{([^:]+):')
  local pbase = '{' .. prefix .. ':' .. f[3] .. '}'
  local pk = jobKey(pbase, parentId)
  local p = redis.call('HMGET', pk, 'state', 'kids', 'runAt', 'attempt')
  if p[1] ~= 'waiting-children' then return end
  if state ~= 'completed' and f[2] == 'fail' then
    local parts = cjson.decode(failMessage)
    local message = parts[1] .. id .. parts[2] .. f[4] .. parts[3] .. state .. parts[4]
    local entry = cjson.encode({ attempt = tonumber(p[4]), name = 'ChildFailedError', message = message, at = iso(now) })
    redis.call('HSET', pk, 'errors', appendJson(redis.call('HGET', pk, 'errors'), entry))
    redis.call('ZREM', pbase .. ':wc', parentId)
    finish(pbase, pk, parentId, 'failed', now, 'waiting-children')
    childEnded(pbase, pk, parentId, 'failed', now, failMessage)
    return
  end
  local endedKey = pbase .. ':ended:' .. parentId
  redis.call('SADD', endedKey, id)
  if redis.call('SCARD', endedKey) < tonumber(p[2]) then return end
  redis.call('ZREM', pbase .. ':wc', parentId)
  if requeue(pbase, pk, parentId, math.max(tonumber(p[3]), now), now, 'waiting-children') then
    redis.call('PUBLISH', prefix .. ':wake', f[3])
  end
end
