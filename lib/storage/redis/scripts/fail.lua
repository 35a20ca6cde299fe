--[[
  fail: record failed attempts of one queue in one round trip. Each accepted outcome appends its error; with a
  retry delay the job goes back to waiting (delay 0) or scheduled (runAt = now + delay, Redis clock), without one
  it fails for good. The attempt stays counted (it was counted at claim).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  wake-up channel; ARGV[2] queue name; ARGV[3] messages.childFailed in parts (JSON, see includes/flows.lua)
  ARGV[4]  this call's number (see complete.lua: the same call sent again answers 1 for what it recorded)
  ARGV[5..] quintuples: job id, fencing token counter, error JSON, retry delay ms ('' = fail for good), error history
            bound (the first entry and this many last ones are kept)

  Returns { 1 | 0 | 2 per outcome } (0: fenced out; 2: accepted, and on a Cluster a note to move its flow parent
  was left, see includes/flows.lua). Publishes the queue name when a job went back to waiting. A failure this very
  call recorded (its token, and the call's number in 'oc') answers 1 again and changes nothing.
]]
-- @include common
-- @include flows

local base, call = KEYS[1], ARGV[4]
local now = clock()
local accepted = {}
local woken = false
local noted = false
for i = 5, #ARGV, 5 do
  local id = ARGV[i]
  local jk = owned(base, id, ARGV[i + 1])
  if jk then
    redis.call('HSET', jk, 'errors', appendBounded(redis.call('HGET', jk, 'errors'), ARGV[i + 2], tonumber(ARGV[i + 4])), 'oc', call)
    deactivate(base, jk, id)
    if ARGV[i + 3] == '' then
      finish(base, jk, id, 'failed', now, 'active')
      noted = childEnded(base, jk, id, 'failed', now, ARGV[3])
    elseif requeue(base, jk, id, now + tonumber(ARGV[i + 3]), now, 'active') then
      woken = true
    end
    accepted[#accepted + 1] = noted and 2 or 1
    noted = false
  else
    -- This very call, sent again (ioredis resends a command whose reply a dropped connection lost).
    local mine = redis.call('HMGET', jobKey(base, id), 'token', 'oc')
    accepted[#accepted + 1] = (mine[1] == ARGV[i + 1] and mine[2] == call) and 1 or 0
  end
end
if woken then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
return accepted
