--[[
  doc-get: one versioned document of the core (the alert state).

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1]  document key

  Returns { version, data }, or false when there is none.
]]

local base, key = KEYS[1], ARGV[1]
local version = redis.call('HGET', base .. ':docs:version', key)
if not version then return false end
return { version, redis.call('HGET', base .. ':docs', key) }
