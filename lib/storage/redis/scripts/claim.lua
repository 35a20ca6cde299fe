--[[
  claim: atomically hand up to `limit` runnable jobs of one queue to one worker, in one round trip.
  Due scheduled jobs are promoted first, so a due job is claimable before any maintenance runs.
  Order: priority level (with optional aging: a job ready for >= agingMs competes one level higher, ties going to
  the earlier ready time), then FIFO by push sequence. Each claimed job gets state active, attempt + 1, a lease
  expiring at now + leaseMs (Redis clock) and a fresh fencing token: above every token handed out before and at least
  Redis' clock in microseconds, so tokens stay unique across a failover or a restart that lost the last writes.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  limit; ARGV[2] leaseMs; ARGV[3] workerId; ARGV[4] agingMs (0 = strict priority)
  ARGV[5]  wake-up channel; ARGV[6] queue name
  ARGV[7]  number of priority levels L, then L levels (0-3) in the order asked
  then     number of task limits T, then T pairs: task name, most jobs of that task this claim may return
  then     number of resume hints H (0 or L), then H push sequences ('' = from the head), one per level asked: where
           the previous claim ran out of its skip budget, so this one goes on from there
  then     startNow: the first startNow claimed jobs start at once and get 'started' = now; the others wait in the
           worker's buffer with 'started' cleared until markStarted (recovery tells the two apart)
  then     claim id: unique per claim call. A call that arrives again with the id of this worker's last claim (ioredis
           resends a command whose reply a dropped connection lost) gets that claim's batch again instead of a
           second one, so a lost reply orphans no job. Remembered in "<base>:claim:<workerId>" for leaseMs.
  then     the held tasks the resume hints were made under (sorted, joined by newlines): hints made under another
           set of held tasks (paused, or out of flow room) are dropped, since such a task's jobs may sit before them.
  then     flow limits (ClaimRequest.flow): the queue's concurrency, rate max, rate per and groupConcurrency ('' =
           none), then the number of tasks F, then F groups: task name, concurrency, rate max, rate per,
           groupConcurrency. Concurrency counts the queue's active jobs (for a task: those of the task, read from the
           active set). A rate is a sliding log per scope ("<base>:rate:<task>", '' for the queue: a list of
           "<ms>:<jobs>" oldest first, expiring after per ms): no more than max claimed in any window of per ms.
           groupConcurrency caps a group's active jobs ("<base>:gactive"), by the cap of the group's next job's task,
           else the queue's.

  Groups (see common.lua): when any group has waiting jobs, the lanes (each group's set, and the jobs in no group as
  one more) take turns in stamp order, one job each per round; a lane served gets a new stamp (to the back). Within a
  group: priority, then FIFO (no aging); at most GROUP_SKIP jobs of tasks the claim may not take are looked past, and
  a group whose next job finds it at its cap is passed over whole. A claim looks at the first MAX_LANES lanes.

  Paused ("<base>:paused", a set: '' for the whole queue, else task names): a paused queue returns nothing, and a
  paused task is claimed as if its task limit were 0.

  Returns { token counter of the first job, { job hash as HGETALL pairs, read before the claim wrote it (jobPairs in
  common.lua) ... }, { resume hint per level ('' = from the head) }, held tasks (as above), ms until a rate limit that
  ran out allows more ('' = none), { job ids }, lease expiry, now, '1' when drained (see below) else '' } with jobs
  in claim order; job i's token is
  first + i - 1. The client patches what the claim wrote into each job: state active, attempt + 1, the worker, the
  lease expiry, and 'started' = now for the first startNow jobs ('' for the others). A replay returns the remembered
  batch's hashes as they are now, with no lease (nothing to patch) and no resume hints, or nothing when any of its jobs
  is no longer held.
]]
-- @include common

local base = KEYS[1]
local limit, leaseMs, worker, agingMs = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local now, nowUs = clock()

-- Wake others only when promotion left work behind that this claim will not take.
local promoted = promote(base, now, '1000')

-- The levels asked, by their position k (1..L) in the order asked, each with its waiting set. Per-level tables are
-- built with four slots up front, indexed by position: a table that grows a key at a time is rebuilt at each power of
-- two, and an empty claim's per-level tables cost Redis 48,000 instructions that way (a level 0 key even lived in the
-- hash part). Loops run to nLevels, never ipairs.
local LEVEL = { ['0'] = 0, ['1'] = 1, ['2'] = 2, ['3'] = 3 }
local nLevels = tonumber(ARGV[7])
local levels, wkey = { 0, 0, 0, 0 }, { '', '', '', '' }
for k = 1, nLevels do
  levels[k] = LEVEL[ARGV[7 + k]]
  wkey[k] = base .. ':w:' .. ARGV[7 + k]
end
local limits = nil
local p = 8 + nLevels
local nLimits = tonumber(ARGV[p])
if nLimits > 0 then
  limits = {}
  for i = 1, nLimits do limits[ARGV[p + 2 * i - 1]] = tonumber(ARGV[p + 2 * i]) end
end
local h = p + 2 * nLimits + 1
local nHints = tonumber(ARGV[h] or '0')
local hints = {}
for k = 1, nHints do hints[k] = ARGV[h + k] end
local startNow = tonumber(ARGV[h + nHints + 1]) or 0
local claimId = ARGV[h + nHints + 2] or ''
local hintedUnder = ARGV[h + nHints + 3] or ''
local f = h + nHints + 4
local queueFlow = { ARGV[f], ARGV[f + 1], ARGV[f + 2], ARGV[f + 3] or '' }
local taskFlows = {}
-- groupConcurrency by task, and the queue's (nil: none)
local groupCaps, queueGroupCap = nil, tonumber(queueFlow[4])
for i = 1, tonumber(ARGV[f + 4] or '0') do
  local g = f + 5 * i
  if ARGV[g + 1] ~= '' or ARGV[g + 2] ~= '' then taskFlows[ARGV[g]] = { ARGV[g + 1], ARGV[g + 2], ARGV[g + 3] } end
  if ARGV[g + 4] ~= '' then
    groupCaps = groupCaps or {}
    groupCaps[ARGV[g]] = tonumber(ARGV[g + 4])
  end
end
local lastClaim = base .. ':claim:' .. worker

-- The same claim again: answer with its batch while every job of it is still held under the token it got then.
local replay = replayClaim(base, lastClaim, claimId)
if replay then return replay end

-- Paused: nothing of a paused queue; a paused task as if its limit were 0 (one SMEMBERS of a key that rarely exists).
local paused = redis.call('SMEMBERS', base .. ':paused')
if #paused > 0 then
  table.sort(paused)
  if paused[1] == '' then return { 0, {}, {}, '', '' } end
  limits = limits or {}
  for _, task in ipairs(paused) do limits[task] = 0 end
end

-- Flow limits: the room each leaves narrows the claim; a rate that ran out sets heldMs. Their helpers are built only
-- for a claim under flow limits (each function a script defines is an allocation on every call).
local heldMs = nil
if queueFlow[1] ~= '' or queueFlow[2] ~= '' or next(taskFlows) ~= nil then
  local function rateRoom(key, max, per)
    local from = now - per
    local log = redis.call('LRANGE', key, '0', '-1')
    local used, drop = 0, 0
    for i, entry in ipairs(log) do
      local sep = string.find(entry, ':', 1, true)
      local at = tonumber(string.sub(entry, 1, sep - 1))
      if at <= from then drop = i else used = used + tonumber(string.sub(entry, sep + 1)) end
    end
    if drop > 0 then redis.call('LTRIM', key, drop, -1) end
    local room = max - used
    if room <= 0 then
      local first = log[drop + 1]
      local wait = tonumber(string.sub(first, 1, string.find(first, ':', 1, true) - 1)) + per - now
      if heldMs == nil or wait < heldMs then heldMs = wait end
      return 0
    end
    return room
  end
  local function flowRoom(spec, task, running)
    local room = math.huge
    if spec[1] ~= '' then room = tonumber(spec[1]) - running() end
    if spec[2] ~= '' then room = math.min(room, rateRoom(base .. ':rate:' .. task, tonumber(spec[2]), tonumber(spec[3]))) end
    return math.max(0, room)
  end
  if queueFlow[1] ~= '' or queueFlow[2] ~= '' then
    limit = math.min(limit, flowRoom(queueFlow, '', function() return redis.call('ZCARD', base .. ':active') end))
  end
  if next(taskFlows) ~= nil then
    local activeOf = nil
    local function running(task)
      if activeOf == nil then
        activeOf = {}
        for _, id in ipairs(redis.call('ZRANGE', base .. ':active', '0', '-1')) do
          local t = redis.call('HGET', jobKey(base, id), 'task')
          if t then activeOf[t] = (activeOf[t] or 0) + 1 end
        end
      end
      return activeOf[task] or 0
    end
    limits = limits or {}
    for task, spec in pairs(taskFlows) do
      local room = flowRoom(spec, task, function() return running(task) end)
      if limits[task] == nil or room < limits[task] then limits[task] = room end
    end
  end
end
local held = heldMs and S(heldMs) or ''

-- Tasks held back altogether: resume hints made under another set of them are dropped.
local heldTasks = {}
for task, cap in pairs(limits or {}) do
  if cap <= 0 then heldTasks[#heldTasks + 1] = task end
end
table.sort(heldTasks)
heldTasks = table.concat(heldTasks, '\n')
if heldTasks ~= hintedUnder then hints = {} end
if limit <= 0 then return { 0, {}, {}, heldTasks, held } end

-- Per level: a window of ids read ahead, the zset offset of the next unread id, and how many were skipped.
-- Nothing is removed while scanning, so offsets stay valid; claimed ids are removed at the end.
-- With a resume hint the scan starts after the jobs the previous claim already looked past (all of tasks it may not
-- take): a run of more than the skip budget of them would otherwise hide every job behind it from this worker.
local chunk = math.max(limit, 16)
local SKIP_BUDGET = 1000
local buf, pos, off = { false, false, false, false }, { 1, 1, 1, 1 }, { 0, 0, 0, 0 }
local done, ended = { false, false, false, false }, { false, false, false, false }
local skipped, lastSkipped, take = { 0, 0, 0, 0 }, { false, false, false, false }, { false, false, false, false }
local budgetSpent = false
for k = 1, nLevels do
  local hint = hints[k]
  if hint ~= nil and hint ~= '' then off[k] = redis.call('ZCOUNT', wkey[k], '-inf', hint) end
end

-- The next unread id of level k, or nil once it ended. A read shorter than a chunk was the level's end: nothing is
-- removed while scanning, so no read past it is needed.
local function peek(k)
  local b = buf[k]
  if not b or pos[k] > #b then
    if b and #b < chunk then done[k] = true; ended[k] = true; return nil end
    b = redis.call('ZRANGE', wkey[k], S(off[k]), S(off[k] + chunk - 1))
    buf[k] = b
    pos[k] = 1
    if #b == 0 then done[k] = true; ended[k] = true; return nil end
  end
  return b[pos[k]]
end

-- When a waiting job became ready (aging only). A missing hash counts as ready now; the job is dropped below.
local ready = nil
if agingMs > 0 then
  local readyOf = {}
  ready = function(id)
    local r = readyOf[id]
    if r == nil then
      r = readyAt(jobKey(base, id)) or now
      readyOf[id] = r
    end
    return r
  end
end

-- The position of the level to take from next and its next id, or nil.
local function pick()
  local best, bestId, bestRank, bestReady = nil, nil, math.huge, math.huge
  for k = 1, nLevels do
    if not done[k] then
      local id = peek(k)
      if id ~= nil then
        if agingMs <= 0 then return k, id end
        local r = ready(id)
        local l = levels[k]
        local rank = l
        if l > 0 and now - r >= agingMs then rank = l - 1 end
        if rank < bestRank or (rank == bestRank and r < bestReady) then
          best, bestId, bestRank, bestReady = k, id, rank, r
        end
      end
    end
  end
  return best, bestId
end

local claimed, taskOf = {}, {}
-- The next job the claim may take of the jobs in no group, or nil.
local function nextPlain()
  while true do
    local k, id = pick()
    if k == nil then return nil end
    pos[k] = pos[k] + 1
    off[k] = off[k] + 1
    local ok = true
    if limits then
      local task = redis.call('HGET', jobKey(base, id), 'task')
      taskOf[id] = task
      local cap = limits[task]
      if cap ~= nil then
        if cap <= 0 then
          ok = false
          skipped[k] = skipped[k] + 1
          lastSkipped[k] = id
          -- Bound the work one claim spends looking past jobs it may not take; the next claim resumes here.
          if skipped[k] >= SKIP_BUDGET then done[k] = true; budgetSpent = true end
        else
          limits[task] = cap - 1
        end
      end
    end
    if ok then
      local t = take[k]
      if not t then t = {}; take[k] = t end
      t[#t + 1] = id
      return id
    end
  end
end

local groupsKey = base .. ':groups'
local MAX_LANES, GROUP_SKIP = 1000, 100
local lanes = nil
-- One EXISTS is all a queue without grouped waiting jobs pays.
if redis.call('EXISTS', groupsKey) == 1 then
  local rows = redis.call('ZRANGE', groupsKey, '0', S(MAX_LANES - 1), 'WITHSCORES')
  local plainStamp = tonumber(redis.call('HGET', base .. ':meta', 'rr0') or '0')
  lanes = {}
  for i = 1, #rows, 2 do
    if plainStamp and plainStamp < tonumber(rows[i + 1]) then
      lanes[#lanes + 1] = ''
      plainStamp = nil
    end
    lanes[#lanes + 1] = rows[i]
  end
  if plainStamp then lanes[#lanes + 1] = '' end
end

local taken = {}
if lanes == nil then
  while #claimed < limit do
    local id = nextPlain()
    if not id then break end
    claimed[#claimed + 1] = id
  end
else
  -- Within a group only the priority levels asked (a range of scores; levels between those asked are skipped).
  local asked, minL, maxL = {}, 3, 0
  for k = 1, nLevels do
    local l = levels[k]
    asked[l] = true
    minL, maxL = math.min(minL, l), math.max(maxL, l)
  end
  local lo, hi = S(minL * GROUP_LEVEL), '(' .. S((maxL + 1) * GROUP_LEVEL)
  local gactive = base .. ':gactive'
  -- The next job of group g the claim may take, or nil (none left, or its next job finds the group at its cap).
  local function nextInGroup(g, st)
    if st.done then return nil end
    local looked = 0
    while true do
      if st.pos > #st.buf then
        st.buf = redis.call('ZRANGEBYSCORE', base .. ':gw:' .. g, lo, hi, 'WITHSCORES', 'LIMIT', S(st.off), '16')
        st.pos = 1
        if #st.buf == 0 then st.done = true; return nil end
      end
      local id = st.buf[st.pos]
      local level = math.floor(tonumber(st.buf[st.pos + 1]) / GROUP_LEVEL)
      st.pos = st.pos + 2
      st.off = st.off + 1
      -- A missing hash is taken and dropped below, as for jobs in no group.
      local task = redis.call('HGET', jobKey(base, id), 'task')
      local pass = not asked[level] or (task and limits and limits[task] ~= nil and limits[task] <= 0)
      if pass then
        looked = looked + 1
        if looked >= GROUP_SKIP then st.done = true; return nil end
      else
        local cap = task and ((groupCaps and groupCaps[task]) or queueGroupCap)
        if cap then
          if st.active == nil then st.active = tonumber(redis.call('HGET', gactive, g) or '0') end
          if st.active + st.taken >= cap then
            -- Held: its jobs keep their place (not read past), other lanes go on.
            st.done = true
            return nil
          end
        end
        if task then
          taskOf[id] = task
          if limits and limits[task] ~= nil then limits[task] = limits[task] - 1 end
        end
        st.taken = st.taken + 1
        st.ids[#st.ids + 1] = id
        return id
      end
    end
  end
  local served = {}
  local live = lanes
  while #claimed < limit and #live > 0 do
    local still = {}
    for _, lane in ipairs(live) do
      if #claimed >= limit then break end
      local id
      if lane == '' then
        id = nextPlain()
      else
        local st = taken[lane]
        if not st then
          st = { buf = {}, pos = 1, off = 0, done = false, taken = 0, ids = {} }
          taken[lane] = st
        end
        id = nextInGroup(lane, st)
      end
      if id then
        claimed[#claimed + 1] = id
        served[lane] = #claimed
        still[#still + 1] = lane
      end
    end
    live = still
  end
  -- Lanes served go to the back of the turns, in the order of their last job of this claim.
  local order = {}
  for lane in pairs(served) do order[#order + 1] = lane end
  table.sort(order, function(a, b) return served[a] < served[b] end)
  if #order > 0 then
    local stamp = redis.call('HINCRBY', base .. ':meta', 'rr', #order) - #order
    for _, lane in ipairs(order) do
      stamp = stamp + 1
      if lane == '' then redis.call('HSET', base .. ':meta', 'rr0', stamp)
      else redis.call('ZADD', groupsKey, 'XX', stamp, lane) end
    end
  end
end

if promoted > #claimed then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
-- Where the next claim should resume per level: after the last skipped job when the budget ran out; at the same
-- hint while resuming has not reached the end of the level; else from the head (all from the head: an empty list).
-- Read before the claimed ids leave their sets (a skipped id never does).
local resume = {}
if nHints > 0 or budgetSpent then
  for k = 1, nLevels do
    local hint = ''
    if skipped[k] >= SKIP_BUDGET then
      hint = redis.call('ZSCORE', wkey[k], lastSkipped[k]) or ''
    elseif hints[k] ~= nil and hints[k] ~= '' and not ended[k] then
      hint = hints[k]
    end
    resume[k] = hint
  end
end
-- Drained: nothing else of this queue was claimable when this claim ran. Said only when nothing held jobs back (no
-- task limits or pauses, no flow limits, no groups, no resume hints): every level asked was then read to its end.
-- Every later change that makes a job claimable publishes a wake-up, so the worker can wait for one instead of claiming
-- again each time a slot frees (see ClaimReply.drained).
local drained = ''
if #claimed < limit and limits == nil and lanes == nil and nHints == 0 and heldMs == nil and queueFlow[1] == ''
  and queueFlow[2] == '' and queueFlow[4] == '' and next(taskFlows) == nil and groupCaps == nil then drained = '1' end
if #claimed == 0 then return { 0, {}, resume, heldTasks, held, {}, '', '', drained } end

for k = 1, nLevels do
  local t = take[k]
  if t and #t > 0 then zremAll(wkey[k], t) end
end
for g, st in pairs(taken) do
  if #st.ids > 0 then
    local gk = base .. ':gw:' .. g
    zremAll(gk, st.ids)
    if redis.call('ZCARD', gk) == 0 then redis.call('ZREM', groupsKey, g) end
  end
end

local first, jobs, valid, lease, nowS = takeClaimed(base, claimed, now, nowUs, leaseMs, worker, startNow, claimId, lastClaim)
if not first then return { 0, {}, resume, heldTasks, held, {}, '', '', drained } end
-- What the claim took counts against the rates it was held to.
if queueFlow[2] ~= '' or next(taskFlows) ~= nil then
  local function logRate(task, n, per)
    if n == 0 then return end
    local key = base .. ':rate:' .. task
    redis.call('RPUSH', key, S(now) .. ':' .. S(n))
    redis.call('PEXPIRE', key, per)
  end
  if queueFlow[2] ~= '' then logRate('', #valid, tonumber(queueFlow[3])) end
  if next(taskFlows) ~= nil then
    local took = {}
    for _, id in ipairs(valid) do
      local task = taskOf[id]
      if task then took[task] = (took[task] or 0) + 1 end
    end
    for task, spec in pairs(taskFlows) do
      if spec[2] ~= '' then logRate(task, took[task] or 0, tonumber(spec[3])) end
    end
  end
end
return { first, jobs, resume, heldTasks, held, valid, lease, nowS, drained }
