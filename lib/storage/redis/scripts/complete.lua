--[[
  complete: record successful attempts of one queue in one round trip (the core batches outcomes).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV     triples: job id, fencing token counter, result JSON

  Returns { 1 | 0 per outcome }: 0 when the token is no longer the job's current one (fenced out, nothing changed).
]]
-- @include common

local base = KEYS[1]
local now = clock()
local accepted = {}
local done = {}
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  local jk = owned(base, id, ARGV[i + 1])
  if jk then
    redis.call('HSET', jk, 'result', ARGV[i + 2])
    finish(base, jk, id, 'completed', now)
    done[#done + 1] = id
    accepted[#accepted + 1] = 1
  else
    accepted[#accepted + 1] = 0
  end
end
if #done > 0 then zremAll(base .. ':active', done) end
return accepted
