--[[
  worker-list: every registered instance and Redis' now, so ages are judged by one clock (read-only).

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)

  Returns { now ms, { id, document, last seen ms } ... }.
]]
-- @include common

local base = KEYS[1]
local now = clock()
local seen = redis.call('ZRANGE', base .. ':workers:seen', 0, -1, 'WITHSCORES')
local workers = {}
for i = 1, #seen, 2 do
  local data = redis.call('HGET', base .. ':workers', seen[i])
  if data then workers[#workers + 1] = { seen[i], data, seen[i + 1] } end
end
return { S(now), workers }
