--[[
  worker-drop: remove one instance (it stopped), or every instance not seen for more than a given time.

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1]  'id' or 'older'; ARGV[2] the instance id, or the age in ms (Redis clock) past which instances go

  Returns how many instances were removed.
]]
-- @include common

local base = KEYS[1]
local workers, seen = base .. ':workers', base .. ':workers:seen'
local ids
if ARGV[1] == 'id' then
  ids = { ARGV[2] }
else
  ids = redis.call('ZRANGEBYSCORE', seen, '-inf', '(' .. S(clock() - tonumber(ARGV[2])))
end
if #ids == 0 then return 0 end
zremAll(seen, ids)
local removed = 0
for _, id in ipairs(ids) do removed = removed + redis.call('HDEL', workers, id) end
return removed
