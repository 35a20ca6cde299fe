--[[
  get: read one job and its log lines atomically (read-only).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  job id

  Returns job snapshot (FIELDS values, see common.lua), or nil when the job does not exist.
]]
-- @include common

local base, id = KEYS[1], ARGV[1]
local jk = jobKey(base, id)
if redis.call('EXISTS', jk) == 0 then return nil end
return snapshot(base, jk, id)
