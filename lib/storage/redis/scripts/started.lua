--[[
  started: record that the handlers of claimed jobs started ('started' = now, Redis clock), so that recovery counts
  a stall only for jobs a dead worker was really running. Fenced: a pair whose token is no longer current is skipped.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1..] pairs: job id, fencing token counter

  Returns the number of jobs marked.
]]
-- @include common

local base = KEYS[1]
local now = S(clock())
local marked = 0
for i = 1, #ARGV, 2 do
  local jk = owned(base, ARGV[i], ARGV[i + 1])
  if jk then
    redis.call('HSET', jk, 'started', now)
    marked = marked + 1
  end
end
return marked
