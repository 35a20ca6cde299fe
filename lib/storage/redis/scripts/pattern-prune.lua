--[[
  pattern-prune: delete the error patterns not seen for more than a given time (Redis clock).

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1]  age in ms past which patterns go

  Returns how many patterns were deleted.
]]
-- @include common
-- @include monitor

local base = KEYS[1]
local fields = redis.call('ZRANGEBYSCORE', base .. ':patterns:seen', '-inf', '(' .. S(clock() - tonumber(ARGV[1])))
local removed = 0
for _, field in ipairs(fields) do
  local stored = redis.call('HGET', base .. ':patterns', field)
  if stored then
    local p = cjson.decode(stored)
    dropPattern(base, field, p.task, p.fingerprint)
    removed = removed + 1
  else
    redis.call('ZREM', base .. ':patterns:seen', field)
  end
end
return removed
