--[[
  metric-read: the metric points of one resolution whose bucket starts in [from, to), found through the bucket index
  (read-only; never a scan of the keyspace).

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1]  resolution; ARGV[2] from ms; ARGV[3] to ms

  Returns { { bucket start ms, { field, value, field, value ... } } ... }, oldest bucket first.
]]
-- @include monitor

local index = metricIndex(KEYS[1], ARGV[1])
local out = {}
for _, bucket in ipairs(redis.call('ZRANGEBYSCORE', index, ARGV[2], '(' .. ARGV[3])) do
  out[#out + 1] = { bucket, redis.call('HGETALL', index .. ':' .. bucket) }
end
return out
