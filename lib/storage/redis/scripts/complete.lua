--[[
  complete: record successful attempts of one queue in one round trip (the core batches outcomes).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  KEYS[2]  optional "{<prefix>}:ids" (remove mode on a standalone server; on a Cluster the client removes the
           index entries)
  ARGV[1]  '1': delete the jobs (their task keeps no completed jobs); '0': keep them as completed
  ARGV[2]  this call's number (unique within the store instance that holds the tokens)
  ARGV     then groups of four: job id, fencing token counter, result JSON (ignored in remove mode), 'p' when the job
           is in no flow and no group (its token says so; see encodeToken in codec.ts), else ''

  Returns { 1 | 0 | 2 | 3 per outcome }: 0 when the token is no longer the job's current one (fenced out, nothing
  changed); 2 when it was accepted and, on a Cluster, left a note to move its flow parent (see includes/flows.lua);
  3 in remove mode for a job that no longer exists (nothing changed).
  The same call run again answers 1 for the jobs it completed and changes nothing: ioredis sends a command again
  after a reconnect when the dropped connection lost its reply, and that must not read as a lost lease. A kept job
  records the call in its field 'oc'; any other completion with that token (a later call) is refused, as before. A
  job deleted at completion (remove mode) leaves nothing to tell by: it answers 3, and the client takes it for its
  own deletion only when its connection closed while the call was out (RedisJobStorage.complete).
]]
-- @include common
-- @include flows

local base, idsKey = KEYS[1], KEYS[2]
local remove, call = ARGV[1] == '1', ARGV[2]
local now = clock()
local nowS = S(now)
local accepted = {}
local done, finished, perTask = {}, {}, {}
local noted = false
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  -- owned() and the fields the completion needs in one read: the fencing check, the task (per-task counts), a flow
  -- child's parent and a grouped job's group (this is the hottest script: a call per job less). A plain job has
  -- neither of the last two, and each absent field costs a scan of the whole hash: not asked for.
  local jk = jobKey(base, id)
  local f
  if ARGV[i + 3] == 'p' then
    f = redis.call('HMGET', jk, 'state', 'token', 'task')
  else
    f = redis.call('HMGET', jk, 'state', 'token', 'task', 'parent', 'group')
  end
  local again = false
  if f[1] ~= 'active' or f[2] ~= ARGV[i + 1] then
    -- This very call, sent again (see above): read only on this rare path.
    again = f[1] == 'completed' and f[2] == ARGV[i + 1] and redis.call('HGET', jk, 'oc') == call
    jk = nil
  end
  if jk then
    countTask(perTask, f[3])
    if remove then
      if f[5] then groupLeft(base, f[5]) end
      redis.call('DEL', jk, base .. ':logs:' .. id)
      if idsKey then redis.call('HDEL', idsKey, id) end
    else
      -- One write per job; the set updates below are batched for the whole call. A short handler can finish before
      -- its start mark lands: its 'started' stays empty, and a completed job read so has started when it finished
      -- (decodeJob in codec.ts), so the completion neither reads nor writes it.
      -- The read above told a flow's child, whose end may release its parent, and a grouped job, whose place frees.
      redis.call('HSET', jk, 'result', ARGV[i + 2], 'state', 'completed', 'finished', nowS, 'oc', call)
      if f[4] and childEnded(base, jk, id, 'completed', now, '') then noted = true end
      if f[5] then groupLeft(base, f[5]) end
      finished[#finished + 1] = nowS
      finished[#finished + 1] = id
    end
    done[#done + 1] = id
    accepted[#accepted + 1] = noted and 2 or 1
    noted = false
  elseif again then
    accepted[#accepted + 1] = 1
  else
    accepted[#accepted + 1] = (remove and not f[1]) and 3 or 0
  end
end
if #done > 0 then
  for task, n in pairs(perTask) do tally(base, task, 'active', (not remove) and 'completed' or nil, n) end
  zremAll(base .. ':active', done)
  if remove then zremAll(base .. ':all', done) end
  chunked('ZADD', base .. ':completed', finished)
end
return accepted
