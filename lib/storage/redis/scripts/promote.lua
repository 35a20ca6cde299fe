--[[
  promote: move due scheduled jobs of one queue to waiting (Redis clock), at most ARGV[3] per call.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  wake-up channel; ARGV[2] queue name; ARGV[3] most jobs to move

  Returns { moved, ms until the next scheduled job is due (-1: none) }. Publishes the queue name when any moved,
  so idle workers wake exactly when delayed jobs fall due.
]]
-- @include common

local base = KEYS[1]
local now = clock()
local moved = promote(base, now, ARGV[3])
if moved > 0 then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
local nextDue = redis.call('ZRANGE', base .. ':scheduled', 0, 0, 'WITHSCORES')
local wait = -1
if #nextDue > 0 then wait = math.max(0, tonumber(nextDue[2]) - now) end
return { moved, wait }
