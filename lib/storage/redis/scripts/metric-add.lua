--[[
  metric-add: add metric points to their counters (HINCRBY: concurrent writers add up exactly) and index each bucket.

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1..] groups of 4: resolution, bucket start ms, field (JSON [queue, task, name, slot]), whole number to add

  Returns nothing.
]]
-- @include monitor

local base = KEYS[1]
local indexed = {}
for i = 1, #ARGV, 4 do
  local resolution, bucket = ARGV[i], ARGV[i + 1]
  local index = metricIndex(base, resolution)
  local key = index .. ':' .. bucket
  redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3])
  if not indexed[key] then
    redis.call('ZADD', index, bucket, bucket)
    indexed[key] = true
  end
end
