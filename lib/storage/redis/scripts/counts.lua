--[[
  counts: jobs per state in one queue (read-only). Scheduled jobs already due count as waiting, as a claim would
  take them.

  KEYS[1]  queue base "{<prefix>:<queue>}"

  Returns { waiting, scheduled, active, completed, failed, cancelled }.
]]
-- @include common

local base = KEYS[1]
local now = clock()
local waiting = 0
for l = 0, 3 do waiting = waiting + redis.call('ZCARD', base .. ':w:' .. l) end
-- Grouped waiting jobs: one ZCARD per group that has any.
for _, group in ipairs(redis.call('ZRANGE', base .. ':groups', 0, -1)) do
  waiting = waiting + redis.call('ZCARD', base .. ':gw:' .. group)
end
local scheduled = redis.call('ZCARD', base .. ':scheduled')
local due = redis.call('ZCOUNT', base .. ':scheduled', '-inf', S(now))
local finished = redis.call('ZCARD', base .. ':failed')
local cancelled = tonumber(redis.call('HGET', base .. ':meta', 'cancelled') or '0')
return { waiting + due, scheduled - due, redis.call('ZCARD', base .. ':active'), redis.call('ZCARD', base .. ':completed'),
  finished - cancelled, cancelled, redis.call('ZCARD', base .. ':wc') }
