--[[
  progress: store a running job's progress and/or append a log line (at most maxLines kept, oldest dropped).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  job id; ARGV[2] fencing token counter
  ARGV[3]  '1' when ARGV[4] (progress JSON) is set; ARGV[5] '1' when ARGV[6] (log line) is set; ARGV[7] maxLines

  Returns 1, or 0 when fenced out.
]]
-- @include common

local base, id = KEYS[1], ARGV[1]
local jk = owned(base, id, ARGV[2])
if not jk then return 0 end
if ARGV[3] == '1' then redis.call('HSET', jk, 'progress', ARGV[4]) end
if ARGV[5] == '1' then
  local logs = base .. ':logs:' .. id
  redis.call('RPUSH', logs, ARGV[6])
  redis.call('HSET', jk, 'logs', '1')
  redis.call('LTRIM', logs, -tonumber(ARGV[7]), -1)
end
return 1
