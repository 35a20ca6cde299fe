--[[
  Flows (after common): a child's end releases or fails its parent in the same script as the child's final write.

  Keys of a flow, under the parent's queue base P = "{<prefix>:<parent queue>}":
    P:wc              sorted set of the queue's parents in 'waiting-children' (score: creation order), for counts
    P:kids:<parent>   list of "<queue>\n<id>" of the parent's children, in insertion order
    P:ended:<parent>  set of the ids of its children that ended
  and, on a Cluster, under a child's queue base C:
    C:flowout         hash child id -> JSON [parent id, parent queue, child state, onFail, child task]: children of
                      this queue that ended and whose parent (in another hash slot) has not been moved yet
  A parent's hash holds 'kids' (how many children it waits for); a child's holds 'parent', 'onFail' and 'pq' (the
  parent's queue), and 'xs' on a Cluster when the parent's queue is another one. A script may touch one hash slot
  there, so such a child's end only leaves its note in C:flowout; the client then runs flow-step.lua in the parent's
  slot and deletes the note (maintenance does the same for notes a dead process left). The step is idempotent: the
  ended set counts a child once, and a parent no longer waiting is left alone.
]]

local childEnded

-- Child `childId` of parent `parentId` (queue base `pbase`) ended in `state` ('completed', 'failed', 'cancelled'):
-- fail the parent (a failed child whose onFail is 'fail', with an error entry built from `failMessage`, the parts
-- of messages.childFailed around the child id, task and state) or, once every child ended, make it waiting (or
-- scheduled) and wake its queue. A failed parent ends in turn for its own parent. Returns true when that left a
-- note in this slot's flowout (a Cluster, the grandparent in another slot).
local function parentStep(pbase, parentId, childId, state, onFail, task, now, failMessage)
  local pk = jobKey(pbase, parentId)
  local p = redis.call('HMGET', pk, 'state', 'kids', 'runAt', 'attempt')
  p[5] = queueOf(pbase)
  if p[1] ~= 'waiting-children' then return false end
  if state ~= 'completed' and onFail == 'fail' then
    local parts = cjson.decode(failMessage)
    local message = parts[1] .. childId .. parts[2] .. task .. parts[3] .. state .. parts[4]
    local entry = cjson.encode({ attempt = tonumber(p[4] or '0'), name = 'ChildFailedError', message = message, at = iso(now) })
    redis.call('HSET', pk, 'errors', appendJson(redis.call('HGET', pk, 'errors'), entry))
    redis.call('ZREM', pbase .. ':wc', parentId)
    finish(pbase, pk, parentId, 'failed', now, 'waiting-children')
    return childEnded(pbase, pk, parentId, 'failed', now, failMessage)
  end
  local endedKey = pbase .. ':ended:' .. parentId
  redis.call('SADD', endedKey, childId)
  if redis.call('SCARD', endedKey) < tonumber(p[2]) then return false end
  redis.call('ZREM', pbase .. ':wc', parentId)
  if requeue(pbase, pk, parentId, math.max(tonumber(p[3] or '0'), now), now, 'waiting-children') then
    redis.call('PUBLISH', string.match(pbase, '^{([^:]+):') .. ':wake', p[5])
  end
  return false
end

-- A job ended: when it is a flow's child, move its parent now (same slot, or a standalone server), or leave a note
-- for the client (a Cluster, the parent in another slot). Returns true when it left a note.
childEnded = function(base, jk, id, state, now, failMessage)
  local f = redis.call('HMGET', jk, 'parent', 'onFail', 'pq', 'task', 'xs')
  local parentId = f[1]
  if not parentId then return false end
  if f[5] then
    redis.call('HSET', base .. ':flowout', id, cjson.encode({ parentId, f[3], state, f[2], f[4] }))
    return true
  end
  local prefix = string.match(base, '^{([^:]+):')
  return parentStep('{' .. prefix .. ':' .. f[3] .. '}', parentId, id, state, f[2], f[4], now, failMessage)
end
