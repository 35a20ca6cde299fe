--[[
  Helpers of the monitoring scripts (worker registry, error patterns, metric buckets). A script pulls this file in
  with `-- @include monitor`, after `-- @include common`.

  Key layout, all under the monitoring base M = "{<prefix>}" (the slot of the shared keys, never a queue's: a queue
  name is not empty, so no queue's tag "{<prefix>:<queue>}" is M):
    M:workers                  hash: instance id -> the core's JSON document
    M:workers:seen             sorted set: instance id, score = last save (ms, Redis clock)
    M:patterns                 hash: pattern field (see patternField) -> JSON { task, fingerprint, queue, name,
                               pattern, frame, count, first (ms), samples }
    M:patterns:seen            sorted set: pattern field, score = last seen (ms): newest first, and what to prune
    M:patterns:task:<task>     sorted set: fingerprint, score = last seen (ms): the per-task bound
    M:metrics:<resolution>     sorted set: bucket start, score = bucket start (ms): the index reads and prunes use
    M:metrics:<resolution>:<bucket>  hash: JSON [queue, task, name, slot] -> integer value (HINCRBY)
]]

-- The hash field of one pattern: task length first, so no (task, fingerprint) pair can spell another's field.
local function patternField(task, fingerprint)
  return #task .. ':' .. task .. fingerprint
end

local function taskPatterns(base, task)
  return base .. ':patterns:task:' .. task
end

-- Drop one pattern from the hash and both sorted sets.
local function dropPattern(base, field, task, fingerprint)
  redis.call('HDEL', base .. ':patterns', field)
  redis.call('ZREM', base .. ':patterns:seen', field)
  redis.call('ZREM', taskPatterns(base, task), fingerprint)
end

local function metricIndex(base, resolution)
  return base .. ':metrics:' .. resolution
end
