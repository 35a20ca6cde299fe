--[[
  doc-set: compare-and-set one versioned document: written only when its version is still the expected one (no
  document yet for an expected version of 0), as that version + 1. Atomic like every script.

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1]  document key; ARGV[2] expected version (0: none yet); ARGV[3] the data

  Returns 1 when written, 0 when another writer came first.
]]

local base, key, expected = KEYS[1], ARGV[1], tonumber(ARGV[2])
local version = tonumber(redis.call('HGET', base .. ':docs:version', key) or '0')
if version ~= expected then return 0 end
redis.call('HSET', base .. ':docs', key, ARGV[3])
redis.call('HSET', base .. ':docs:version', key, version + 1)
return 1
