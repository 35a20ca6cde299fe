--[[
  priority: give a waiting or scheduled job another priority level. A waiting job moves to the back of its new
  level's set (a fresh push sequence; its ready time, which aging counts from, is kept); a scheduled job joins its
  new level when it falls due. Other states are returned unchanged.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  job id; ARGV[2] new priority level 0-3

  Returns job snapshot (FIELDS values, see common.lua) after the change, or nil when the job does not exist.
]]
-- @include common

local base, id, level = KEYS[1], ARGV[1], ARGV[2]
local jk = jobKey(base, id)
local f = redis.call('HMGET', jk, 'state', 'prio', 'group')
local state = f[1]
if not state then return nil end
if (state == 'waiting' or state == 'scheduled') and f[2] ~= level then
  redis.call('HSET', jk, 'prio', level)
  if state == 'waiting' then
    -- Its group's set when it has one (the score holds the level), else the level's own set.
    unwait(base, id, f[2], f[3])
    pushWaiting(base, id, level, redis.call('HINCRBY', base .. ':meta', 'seq', 1), f[3])
  end
end
return snapshot(base, jk, id)
