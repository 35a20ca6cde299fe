--[[
  metric-prune: delete the metric buckets that start before a time, per resolution, at most a given number of buckets
  per call (found through the bucket index, never a scan).

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1]  most buckets deleted; ARGV[2..] pairs: resolution, delete buckets starting before this ms

  Returns { points deleted, 1 when the bucket limit cut the call short (call again) else 0 }.
]]
-- @include monitor

local budget = tonumber(ARGV[1])
local points = 0
for i = 2, #ARGV, 2 do
  local index = metricIndex(KEYS[1], ARGV[i])
  local buckets = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. ARGV[i + 1], 'LIMIT', 0, budget)
  for _, bucket in ipairs(buckets) do
    points = points + redis.call('HLEN', index .. ':' .. bucket)
    redis.call('DEL', index .. ':' .. bucket)
  end
  if #buckets > 0 then redis.call('ZREM', index, unpack(buckets)) end
  budget = budget - #buckets
  if budget <= 0 then return { points, 1 } end
end
return { points, 0 }
