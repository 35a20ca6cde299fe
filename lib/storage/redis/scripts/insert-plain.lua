--[[
  insert-plain: insert.lua for its common call, one job with none of the rarely used options (no dedupe, flow or
  group), in a script a fraction of its size: an enqueue at light load runs with Redis' caches cold, and a cold
  script's time follows the code it runs (see claim-plain.lua). A job whose id is taken answers { -1 } before anything
  is written, and the client sends insert.lua, which returns the existing job.

  Hand-off: a job that is waiting at once (no delay) is claimed for the worker claim-plain.lua parked last in
  B:parked, when one is there, taking one of the free slots it parked with, and the claim is published on that
  worker's channel instead of waking every worker: the job starts with no wake-up and no claim of its own (the latency
  path at light load, docs/storage-redis.md). The claim is the one claim-plain.lua makes with startNow = 1: attempt 1,
  a lease, a fresh token, 'started' = now. Looked for only while the meta field 'pk' is set (claim-plain.lua sets it
  when it parks a worker; cleared here when the set is found empty). An entry parked longer ago than its lease, or a
  channel nobody listens to (PUBLISH reaches no one: the worker's process is gone), is dropped and the job waits as
  usual.

  KEYS     as insert.lua: queue base, then on a standalone server the id index and the queue set
  ARGV[1]  wake-up channel; ARGV[2] queue name; ARGV[3] id; ARGV[4] task; ARGV[5] priority level 0-3; ARGV[6] delayMs;
  ARGV[7]  runAt ms ('' = now + delayMs); ARGV[8] the record's 'spec' after its creation time (see insert.lua)

  Returns what insert.lua returns for one created job, { created ms, '1' }, or { -1 }. A handed job is reported
  'waiting' by the client, the state it was created in. Publishes the hand-off, or the queue name when the job waits.
]]
-- @include common

local base, idsKey, queuesKey = KEYS[1], KEYS[2], KEYS[3]
local channel, queue, id, task, prio = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jk = jobKey(base, id)
if idsKey then
  if redis.call('HSETNX', idsKey, id, queue) == 0 then return { -1 } end
elseif redis.call('EXISTS', jk) == 1 then
  return { -1 }
end
local now, nowUs = clock()
local nowS = S(now)
local meta = base .. ':meta'
local counters = redis.call('HMGET', meta, 'order', 'seq', 'pk')
-- A queue joins the queue set with its first insert, the one that finds no creation order yet (inserts write both in
-- one script, and nothing takes a queue out of the set): later inserts skip the SADD.
if queuesKey and not counters[1] then redis.call('SADD', queuesKey, queue) end
local order = S(math.max(nowUs, tonumber(counters[1] or '0') + 1))
local runAt = now + tonumber(ARGV[6])
if ARGV[7] ~= '' then runAt = tonumber(ARGV[7]) end
local spec = nowS .. '\n' .. ARGV[8]
local state = runAt > now and 'scheduled' or 'waiting'

-- The hand-off: the worker parked last, if it can take the job (see above); token, worker and lease expiry are set
-- when it does. Inline rather than a local function: a closure over this many locals is built on every call, used or
-- not, and what a script allocates, Lua's collector pays for on later calls.
local token, worker, lease = nil, nil, nil
if state == 'waiting' and runAt == now and counters[3] then
  local parked = base .. ':parked'
  local top = redis.call('ZRANGE', parked, '-1', '-1', 'WITHSCORES')
  if #top == 0 then
    redis.call('HDEL', meta, 'pk')
  else
    local member, score = top[1], tonumber(top[2])
    local to, parkedWorker, leaseMs = string.match(member, '^(.*)\n(.*)\n(%d+)$')
    if not leaseMs or math.floor(score / PARK_SLOTS) + tonumber(leaseMs) < now then
      redis.call('ZREM', parked, member)
    else
      local handedToken = S(nextToken(meta, nowUs))
      local handedLease = S(now + tonumber(leaseMs))
      -- Newline-joined, the spec last (it holds newlines itself): decoded by HandOffs.deliver as the job was created.
      local message = queue .. '\n' .. id .. '\n' .. parkedWorker .. '\n' .. handedToken .. '\n' .. handedLease .. '\n' .. nowS ..
        '\n' .. task .. '\n' .. prio .. '\n' .. spec
      if redis.call('PUBLISH', to, message) == 0 then
        redis.call('ZREM', parked, member)
      else
        if score % PARK_SLOTS <= 1 then redis.call('ZREM', parked, member) else redis.call('ZINCRBY', parked, '-1', member) end
        token, worker, lease = handedToken, parkedWorker, handedLease
      end
    end
  end
end
-- The record (see 'B:job:<id>' in common.lua), written once: a handed job as claimed.
if token then
  redis.call('HSET', jk, 'task', task, 'prio', prio, 'state', 'active', 'spec', spec, 'attempt', '1', 'started', nowS,
    'worker', worker, 'lease', lease, 'token', token)
elseif runAt == now then
  redis.call('HSET', jk, 'task', task, 'prio', prio, 'state', state, 'spec', spec)
elseif runAt > now then
  redis.call('HSET', jk, 'task', task, 'prio', prio, 'state', state, 'spec', spec, 'runAt', S(runAt))
else
  -- Due in the past: ready since then.
  redis.call('HSET', jk, 'task', task, 'prio', prio, 'state', state, 'spec', spec, 'runAt', S(runAt), 'ready', S(runAt))
end
redis.call('ZADD', base .. ':all', order, id)
if token then
  redis.call('ZADD', base .. ':active', lease, id)
  tally(base, task, nil, 'active')
  redis.call('HSET', meta, 'order', order, 'tok', token)
elseif state == 'waiting' then
  local seq = S(tonumber(counters[2] or '0') + 1)
  redis.call('ZADD', base .. ':w:' .. prio, seq, id)
  tally(base, task, nil, 'waiting')
  redis.call('HSET', meta, 'order', order, 'seq', seq)
  redis.call('PUBLISH', channel, queue)
else
  redis.call('ZADD', base .. ':scheduled', S(runAt), id)
  tally(base, task, nil, 'scheduled')
  redis.call('HSET', meta, 'order', order)
end
return { nowS, '1' }
