--[[
  claim-plain: claim.lua for its common case, in a script a fraction of its size. Every priority level asked is read
  in the order asked (strict priority, no aging), with no task limits, no flow limits and no resume hints, in a queue
  with no grouped waiting jobs and nothing paused. The client sends it when the request has none of the first four
  (RedisJobStorage.claim); the last two are read here, and the answer is then { -1 } before anything is written: the
  client sends claim.lua instead, and goes on doing so for that queue.
  Why two scripts: an idle worker runs each claim with Redis' caches cold, and a cold script's time follows the code
  and data it touches more than its instruction count. claim.lua's aging, limits, flows, groups and hints made a
  one-job claim at light load take about 1.5 times as long in Redis as the claim before them (docs/benchmark-log.md).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  limit; ARGV[2] leaseMs; ARGV[3] workerId; ARGV[4] wake-up channel; ARGV[5] queue name; ARGV[6] startNow;
  ARGV[7]  claim id ('' = none; see claim.lua); ARGV[8] number of priority levels L, then L levels (0-3) in the order
           asked; ARGV[9 + L] the worker's hand-off channel ('' = none), ARGV[10 + L] '1' when the worker may park
  Parking (see insert-plain.lua): a claim that read every level to its end and still has slots to start jobs in (startNow)
  leaves the worker in B:parked (member "<channel>\n<worker>\n<leaseMs>", score now * PARK_SLOTS + free slots), so
  that the next inserts of plain waiting jobs claim them for this worker, one per free slot, and publish them on the
  channel: each job starts without a wake-up and a claim. A claim that does not park takes the worker's entry out, if
  the channel is given.

  Returns what claim.lua returns, with no resume hints, held tasks or rate wait: { token counter of the first job,
  { job hash as HGETALL pairs }, {}, '', '', { job ids }, lease expiry, now, '1' when drained else '', the free
  slots it was parked with, else '' }; or { -1 }.
]]
-- @include common

local base = KEYS[1]
-- Grouped waiting jobs take turns, and a pause holds jobs back: both are claim.lua's.
if redis.call('EXISTS', base .. ':groups', base .. ':paused') > 0 then return { -1 } end
local limit, leaseMs, worker = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local startNow, claimId = tonumber(ARGV[6]), ARGV[7]
local lastClaim = base .. ':claim:' .. worker
local now, nowUs = clock()
local promoted = promote(base, now, '1000')

local replay = replayClaim(base, lastClaim, claimId)
if replay then return replay end

-- Strict priority, then FIFO by push sequence: the first ids of each level in turn, taken out of their sets at once.
local claimed = {}
for k = 1, tonumber(ARGV[8]) do
  local want = limit - #claimed
  if want <= 0 then break end
  local key = base .. ':w:' .. ARGV[8 + k]
  local ids = redis.call('ZRANGE', key, '0', S(want - 1))
  if #ids > 0 then
    zremAll(key, ids)
    for i = 1, #ids do claimed[#claimed + 1] = ids[i] end
  end
end

-- Wake others only when promotion left work behind that this claim will not take.
if promoted > #claimed then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
-- Drained (ClaimReply.drained): a short claim read every level asked to its end.
local drained = #claimed < limit and '1' or ''
local L = tonumber(ARGV[8])
local parked, nowS = '', ''
if ARGV[9 + L] ~= '' then
  nowS = S(now)
  local member = ARGV[9 + L] .. '\n' .. worker .. '\n' .. ARGV[2]
  local free = math.min(startNow - #claimed, PARK_SLOTS - 1)
  if drained == '1' and ARGV[10 + L] == '1' and free > 0 then
    redis.call('ZADD', base .. ':parked', S(now * PARK_SLOTS + free), member)
    -- Tells inserts to look for parked workers (insert-plain.lua clears it when it finds none).
    redis.call('HSET', base .. ':meta', 'pk', '1')
    parked = S(free)
  else
    redis.call('ZREM', base .. ':parked', member)
  end
end
-- Now (Redis' clock) goes back with a claim that could park: the client anchors hand-offs' lease times with it.
if #claimed == 0 then return { 0, {}, {}, '', '', {}, '', nowS, drained, parked } end
local first, jobs, valid, lease
first, jobs, valid, lease, nowS = takeClaimed(base, claimed, now, nowUs, leaseMs, worker, startNow, claimId, lastClaim)
if not first then return { 0, {}, {}, '', '', {}, '', '', drained, parked } end
return { first, jobs, {}, '', '', valid, lease, nowS, drained, parked }
