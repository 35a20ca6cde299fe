--[[
  recover: put active jobs whose lease expired (Redis clock) back to waiting with their attempt given back (a dead
  worker costs no attempt). A job whose handler had started ('started' set) also counts a stall and gets a
  JobStalledError entry; the worker that claims it next applies its task's maxStalls.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  wake-up channel; ARGV[2] queue name; ARGV[3] most jobs per call
  ARGV[4], ARGV[5]  error message text before and after the worker id (the message lives in lib/contract/errors.ts)
  ARGV[6]  error history bound (the first entry and this many last ones are kept)

  Returns { jobs recovered, of those stalled }. Publishes the queue name when any went back to waiting.
]]
-- @include common

local base = KEYS[1]
local now = clock()
local expired = redis.call('ZRANGEBYSCORE', base .. ':active', '-inf', S(now), 'LIMIT', 0, tonumber(ARGV[3]))
local count, stalled, woken = 0, 0, false
for _, id in ipairs(expired) do
  local jk = jobKey(base, id)
  local f = redis.call('HMGET', jk, 'state', 'attempt', 'started', 'worker')
  if f[1] ~= 'active' then
    -- A leftover index entry: nothing to recover, just forget it.
    redis.call('ZREM', base .. ':active', id)
  else
    count = count + 1
    local attempt = tonumber(f[2])
    if f[3] and f[3] ~= '' then
      stalled = stalled + 1
      local entry = cjson.encode({ attempt = attempt, name = 'JobStalledError',
        message = ARGV[4] .. (f[4] or 'unknown') .. ARGV[5], at = iso(now) })
      redis.call('HSET', jk, 'errors', appendBounded(redis.call('HGET', jk, 'errors'), entry, tonumber(ARGV[6])))
      redis.call('HINCRBY', jk, 'stalls', 1)
    end
    redis.call('HSET', jk, 'attempt', S(math.max(0, attempt - 1)))
    deactivate(base, jk, id)
    if requeue(base, jk, id, now, now, 'active') then woken = true end
  end
end
if woken then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return { count, stalled }
