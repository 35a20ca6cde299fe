--[[
  insert: add jobs to one queue in one round trip; a job whose id exists (in any queue) is returned instead.

  KEYS[1]  queue base "{<prefix>:<queue>}" (every queue key starts with it; see includes/common.lua)
  KEYS[2]  optional "{<prefix>}:ids"    (hash id -> queue: global uniqueness and lookup by id)
  KEYS[3]  optional "{<prefix>}:queues" (set of queue names)
           Both are passed on a standalone server only. On a Cluster they live in another slot, so the client
           claims ids with HSETNX and registers the queue itself, and this script only guards against a job key
           that already exists.
  ARGV[1]  wake-up channel; ARGV[2] queue name; ARGV[3] key prefix; ARGV[4] number of jobs n
  ARGV[5]  arguments per job: 7, or 2 when the jobs share their task, priority, delay and due time and none has a
           rarely used option (most batches): those four are then ARGV[6..9], sent once. ('' otherwise.)
  ARGV[10..] n groups of 7: id, task, priority level 0-3, delayMs, runAt ms ('' = now + delayMs),
           the record's 'spec' after its creation time: "<maxAttempts>\n<timeoutMs>\n<backoff JSON>\n<headers JSON>\n
           <payload JSON>" ('' for none; see 'B:job:<id>' in common.lua), and the rarely used options: '' for none, else
           a JSON array of 8 strings ('' for none): dedupe mode ('window', 'debounce', 'replace'), dedupe key ([task,
           key] as JSON), window ms, parent id, onFailure, parent queue, children count ('' = not a flow's parent; see
           flows.lua; on a Cluster the client writes the parents' lists of children), group (a grouped waiting job
           goes to B:gw:<group>, see common.lua); or n groups of 2: id, spec. Seven arguments a job instead of one per
           option, two when the rest is shared: each argument costs Redis about 1,000 instructions to read and hand to
           Lua, and a plain job leaves most of them empty.
           A dedupe key is the string B:dd:<key> holding the id of its job: a window key expires with its window,
           a debounce or replace key is named in its job's 'dd' field, and prune.lua deletes it with the job.

  Returns { created ms, flags, snapshot... }: flags has one character per job, in input order, '1' for a job created
  (its state and due time follow from its arguments and the creation time, as computed below) and '0' for one that
  exists, whose job snapshot (FIELDS values, see common.lua) follows, in input order. A reply element per job cost
  Redis and the client more than the job's own writes in a batch (bench/redis-instructions.ts).
  Publishes the queue name on the channel when any inserted job is waiting.
]]
-- @include common

local base, channel, queue, prefix = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local idsKey, queuesKey = KEYS[2], KEYS[3]
local n = tonumber(ARGV[4])
local now, nowUs = clock()
local meta = base .. ':meta'
-- The creation order and the push sequence are read once and written once per call, not once per job.
local counters = redis.call('HMGET', meta, 'order', 'seq')
local order = math.max(nowUs, tonumber(counters[1] or '0') + 1) - 1
local seq = tonumber(counters[2] or '0')
local flags = {}
local woken = false
local moves = {}
local runTask, runState, runCount = nil, nil, 0
local nowS = S(now)
-- The reply: the creation time and the flags (set at the end), then the snapshots of the jobs that exist.
local out = { nowS, '' }
-- The listing and waiting sets' new entries (jobs in no group), written with one ZADD per set at the end, or before
-- a dedupe key is looked at (keyHolder may move a job this call inserted). Tables only when there is a batch: what a
-- script allocates, Lua's collector pays for on later calls (a one-job insert with them cost 30,000 instructions more).
-- Their lengths are counted here: Lua's # looks the end of a table up on each use.
local listed, waiting, nListed, nWaiting = nil, nil, 0, nil
if n > 1 then listed, waiting, nWaiting = {}, {}, {} end
local function flush()
  if not listed then return end
  chunked('ZADD', base .. ':all', listed)
  listed, nListed = {}, 0
  flushWaiting(base, waiting)
  waiting, nWaiting = {}, {}
end

if queuesKey then redis.call('SADD', queuesKey, queue) end

-- The payload at the end of a 'spec' tail (after its fourth newline; the JSON before it holds none).
local function payloadOf(tail)
  local at = 0
  for _ = 1, 4 do at = string.find(tail, '\n', at + 1, true) end
  return string.sub(tail, at + 1)
end

-- The job that holds the dedupe key dk, after a debounce or replace key changed it (to the new job's payload, in its
-- spec, and due time); nil: insert the new job.
local function keyHolder(spec, delay, runAtArg, mode, dk)
  local heldId = redis.call('GET', dk)
  if not heldId then return nil end
  local hk = jobKey(base, heldId)
  local f = redis.call('HMGET', hk, 'state', 'prio', 'group')
  local state = f[1]
  if not state then return nil end
  if mode ~= 'window' then
    if state ~= 'waiting' and state ~= 'scheduled' then return nil end
    setPayload(hk, payloadOf(spec))
    if mode == 'debounce' then
      if state == 'waiting' then unwait(base, heldId, f[2], f[3]) else redis.call('ZREM', base .. ':scheduled', heldId) end
      local runAt
      if runAtArg ~= '' then runAt = tonumber(runAtArg) else runAt = now + tonumber(delay) end
      if requeue(base, hk, heldId, runAt, now, state) then woken = true end
    end
  end
  return snapshot(base, hk, heldId)
end

local stride = tonumber(ARGV[5])
-- jobKey(base, id) is jobPrefix .. id: one concatenation a job, no call.
local jobPrefix = base .. ':job:'
-- The orders and push sequences of a batch as text (see numberText), and a shared due time converted once.
local orderText, seqText = S, S
if n >= NUMBER_RUN then orderText, seqText = numberText(), numberText() end
local sharedRunAt = nil
if stride == 2 then
  if ARGV[9] ~= '' then sharedRunAt = tonumber(ARGV[9]) else sharedRunAt = now + tonumber(ARGV[8]) end
end
-- The common batch first: jobs due now, of one task and priority, none with a rare option (stride 2), on a standalone
-- server, each id new. It makes the writes the loop below makes for such a job, without that loop's per-job choices
-- (rare options, states, runs of tasks): 7.7 % of Redis' instructions per job (docs/benchmark-log.md). The first
-- id that exists stops it, and the loop below goes on from that job (its HSETNX answers 0 again).
local first = 1
if stride == 2 and idsKey and listed and sharedRunAt == now then
  local task, prio = ARGV[6], ARGV[7]
  local w, k = waiting[prio], nWaiting[prio] or 0
  if not w then
    w = {}
    waiting[prio] = w
  end
  while first <= n do
    local id = ARGV[8 + 2 * first]
    if redis.call('HSETNX', idsKey, id, queue) == 0 then break end
    redis.call('HSET', jobPrefix .. id, 'task', task, 'prio', prio, 'state', 'waiting', 'spec', nowS .. '\n' .. ARGV[9 + 2 * first])
    order, seq = order + 1, seq + 1
    listed[nListed + 1], listed[nListed + 2], nListed = orderText(order), id, nListed + 2
    w[k + 1], w[k + 2], k = seqText(seq), id, k + 2
    flags[first] = '1'
    first = first + 1
  end
  nWaiting[prio] = k
  if first > 1 then woken, runTask, runState, runCount = true, task, 'waiting', first - 1 end
end

for i = first, n do
  local a = 10 + (i - 1) * stride
  local id = ARGV[a]
  local jk = jobPrefix .. id
  local task, prio, delay, runAtArg, spec, rare
  if stride == 2 then
    task, prio, delay, runAtArg, spec, rare = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[a + 1], ''
  else
    task, prio, delay, runAtArg, spec, rare = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6]
  end
  -- The rare options (locals, not a table: what a script allocates, Lua's collector pays for on later calls).
  local mode, dkey, ttl, parentId, onFail, pq, kids, group = '', '', '', '', '', '', '', ''
  if rare ~= '' then
    local x = cjson.decode(rare)
    mode, dkey, ttl, parentId, onFail, pq, kids, group = x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8]
  end
  local dk = nil
  local existing = nil
  if mode ~= '' then
    dk = base .. ':dd:' .. dkey
    -- A debounce moves the key's job with the shared push sequence: hand it over and take it back.
    flush()
    redis.call('HSET', meta, 'seq', S(seq))
    existing = keyHolder(spec, delay, runAtArg, mode, dk)
    seq = tonumber(redis.call('HGET', meta, 'seq'))
  end
  if existing then
    -- held by another job: this id is not claimed
  elseif idsKey then
    -- Claiming the id and checking for it is one command in the common case (a new id).
    if redis.call('HSETNX', idsKey, id, queue) == 0 then
      local q = redis.call('HGET', idsKey, id)
      local otherBase = '{' .. prefix .. ':' .. q .. '}'
      local ojk = jobKey(otherBase, id)
      if redis.call('EXISTS', ojk) == 1 then
        existing = snapshot(otherBase, ojk, id)
      else
        -- An index entry without its job (left by a crash between index and job on a Cluster): take it over.
        redis.call('HSET', idsKey, id, queue)
      end
    end
  elseif redis.call('EXISTS', jk) == 1 then
    existing = snapshot(base, jk, id)
  end
  if existing then
    flags[i] = '0'
    out[#out + 1] = existing
  else
    local runAt = sharedRunAt
    if not runAt then
      if runAtArg ~= '' then runAt = tonumber(runAtArg) else runAt = now + tonumber(delay) end
    end
    order = order + 1
    local state = 'waiting'
    if kids ~= '' then state = 'waiting-children' elseif runAt > now then state = 'scheduled' end
    -- The compact record (see 'B:job:<id>' in common.lua): what no script reads travels as one 'spec' field, and
    -- 'attempt' (0), 'runAt' and 'ready' (= created) are left out until they differ. Every field a claim reads and returns
    -- costs Redis about 3,000 instructions per job (bench/redis-instructions.ts).
    -- A job due now in no group (most) is written without a table of its fields: a table per job is garbage that
    -- Lua's collector pays for on later calls.
    if runAt == now and group == '' then
      redis.call('HSET', jk, 'task', task, 'prio', prio, 'state', state, 'spec', nowS .. '\n' .. spec)
    else
      local fields = { 'task', task, 'prio', prio, 'state', state, 'spec', nowS .. '\n' .. spec }
      if runAt ~= now then
        fields[#fields + 1] = 'runAt'; fields[#fields + 1] = S(runAt)
        -- Due in the past: ready since then.
        if runAt < now then fields[#fields + 1] = 'ready'; fields[#fields + 1] = S(runAt) end
      end
      if group ~= '' then fields[#fields + 1] = 'group'; fields[#fields + 1] = group end
      redis.call('HSET', jk, unpack(fields))
    end
    -- Counted per run of jobs of one task and state (a batch is usually one run), added to moves when the run ends.
    if task == runTask and state == runState then
      runCount = runCount + 1
    else
      if runCount > 0 then moves[runState .. ':' .. runTask] = (moves[runState .. ':' .. runTask] or 0) + runCount end
      runTask, runState, runCount = task, state, 1
    end
    if listed then
      listed[nListed + 1], listed[nListed + 2], nListed = orderText(order), id, nListed + 2
    else
      redis.call('ZADD', base .. ':all', S(order), id)
    end
    if state == 'waiting' then
      seq = seq + 1
      if waiting and group == '' then
        -- pushWaiting's batch, inline: no call and no # per job.
        local w, k = waiting[prio], nWaiting[prio] or 0
        if not w then
          w = {}
          waiting[prio] = w
        end
        w[k + 1], w[k + 2], nWaiting[prio] = seqText(seq), id, k + 2
      else
        pushWaiting(base, id, prio, seq, group)
      end
      woken = true
    elseif state == 'scheduled' then
      redis.call('ZADD', base .. ':scheduled', S(runAt), id)
    else
      redis.call('HSET', jk, 'kids', kids)
      redis.call('ZADD', base .. ':wc', S(order), id)
    end
    if parentId ~= '' then
      redis.call('HSET', jk, 'parent', parentId, 'onFail', onFail, 'pq', pq)
      if idsKey then
        redis.call('RPUSH', '{' .. prefix .. ':' .. pq .. '}:kids:' .. parentId, queue .. '\n' .. id)
      elseif pq ~= queue then
        -- A Cluster: the client writes the parent's list of children, and this child's end moves the parent in a
        -- second step when it is in another slot (see flows.lua).
        redis.call('HSET', jk, 'xs', '1')
      end
    end
    if mode == 'window' then
      redis.call('SET', dk, id, 'PX', ttl)
    elseif dk then
      -- Kept with the job so that retention deletes the key with it.
      redis.call('SET', dk, id)
      redis.call('HSET', jk, 'dd', dkey)
    end
    flags[i] = '1'
  end
end

flush()
redis.call('HSET', meta, 'order', S(order), 'seq', S(seq))
if runCount > 0 then moves[runState .. ':' .. runTask] = (moves[runState .. ':' .. runTask] or 0) + runCount end
writeMoves(base, moves)
if woken then redis.call('PUBLISH', channel, queue) end
out[2] = table.concat(flags)
return out
