--[[
  recover: put active jobs whose lease expired (Redis clock) back to waiting, recording a LeaseExpiredError entry
  with their attempt still counted, or fail them when that was their last attempt.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  wake-up channel; ARGV[2] queue name; ARGV[3] most jobs per call
  ARGV[4], ARGV[5]  error message text before and after the worker id (the message lives in lib/core/errors.ts)
  ARGV[6]  error history bound (the first entry and this many last ones are kept)

  Returns the number of jobs recovered. Publishes the queue name when any went back to waiting.
]]
-- @include common

local base = KEYS[1]
local now = clock()
local expired = redis.call('ZRANGEBYSCORE', base .. ':active', '-inf', S(now), 'LIMIT', 0, tonumber(ARGV[3]))
local count, woken = 0, false
for _, id in ipairs(expired) do
  local jk = jobKey(base, id)
  local f = redis.call('HMGET', jk, 'state', 'attempt', 'max', 'worker')
  if f[1] ~= 'active' then
    -- A leftover index entry: nothing to recover, just forget it.
    redis.call('ZREM', base .. ':active', id)
  else
    count = count + 1
    local attempt = tonumber(f[2])
    local entry = cjson.encode({ attempt = attempt, name = 'LeaseExpiredError',
      message = ARGV[4] .. (f[4] or 'unknown') .. ARGV[5], at = iso(now) })
    redis.call('HSET', jk, 'errors', appendBounded(redis.call('HGET', jk, 'errors'), entry, tonumber(ARGV[6])))
    deactivate(base, jk, id)
    if attempt >= tonumber(f[3]) then
      finish(base, jk, id, 'failed', now)
    elseif requeue(base, jk, id, now, now) then
      woken = true
    end
  end
end
if woken then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return count
