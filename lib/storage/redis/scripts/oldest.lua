--[[
  oldest: when the longest-waiting ready job of one queue became ready (read-only). Each waiting set is FIFO, so only
  the head of each priority level is looked at (of the first 100 groups' sets too), plus the earliest scheduled job when
  it is already due.

  KEYS[1]  queue base "{<prefix>:<queue>}"

  Returns the earliest ready time in ms, or nil when no job waits.
]]
-- @include common

local base = KEYS[1]
local now = clock()
local oldest = nil
for l = 0, 3 do
  local head = redis.call('ZRANGE', base .. ':w:' .. l, 0, 0)[1]
  local ready = head and readyAt(jobKey(base, head))
  if ready and (not oldest or ready < oldest) then oldest = ready end
end
-- A group's set is ordered by priority first: its oldest job may sit behind its head, so each level's head is read.
for _, group in ipairs(redis.call('ZRANGE', base .. ':groups', 0, 99)) do
  for l = 0, 3 do
    local head = redis.call('ZRANGEBYSCORE', base .. ':gw:' .. group, S(l * GROUP_LEVEL), '(' .. S((l + 1) * GROUP_LEVEL), 'LIMIT', 0, 1)[1]
    local ready = head and readyAt(jobKey(base, head))
    if ready and (not oldest or ready < oldest) then oldest = ready end
  end
end
local due = redis.call('ZRANGEBYSCORE', base .. ':scheduled', '-inf', S(now), 'WITHSCORES', 'LIMIT', 0, 1)[2]
if due and (not oldest or tonumber(due) < oldest) then oldest = tonumber(due) end
if oldest then return S(oldest) end
return nil
