--[[
  worker-save: register one worker instance, or replace its document, and stamp it with Redis' clock.

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1]  instance id; ARGV[2] the core's JSON document

  Returns nothing.
]]
-- @include common

local base, id = KEYS[1], ARGV[1]
local now = clock()
redis.call('HSET', base .. ':workers', id, ARGV[2])
redis.call('ZADD', base .. ':workers:seen', S(now), id)
