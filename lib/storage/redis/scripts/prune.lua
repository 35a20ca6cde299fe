--[[
  prune: delete finished jobs the client picked (oldest first, across queues) for retention. A job that left the
  finished set meanwhile (retried by hand) is kept.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  KEYS[2]  optional "{<prefix>}:ids" (standalone server only; on a Cluster the client removes the index entries)
  ARGV[1]  'completed' or 'failed' (the set the ids come from; it holds cancelled jobs too)
  ARGV[2..] job ids

  Returns the ids deleted.
]]
-- @include common

local base, idsKey, kind = KEYS[1], KEYS[2], ARGV[1]
local set = base .. ':' .. kind
local deleted, keys, moves = {}, {}, {}
local cancelled = 0
-- Per job only the check and the read; the deletes, set removals and count moves go out once per call (every
-- completed job is pruned sooner or later, so this is a cost of each job: 7 commands a job became 2).
-- Whether a job is still finished is read from its state, which moves with its set (finish(), retry.lua): a ZSCORE
-- per job cost Redis about 7,000 instructions (the score is formatted as a decimal for the reply). Only an id whose
-- hash is gone is looked up in the set, so that an id pruned meanwhile and taken by a new job elsewhere keeps its
-- index entry.
local kindStates = kind == 'completed' and { completed = true } or { failed = true, cancelled = true }
for i = 2, #ARGV do
  local id = ARGV[i]
  local jk = jobKey(base, id)
  local f = redis.call('HMGET', jk, 'state', 'dd', 'task', 'logs', 'kids')
  if (f[1] and kindStates[f[1]]) or (not f[1] and redis.call('ZSCORE', set, id)) then
    if f[1] == 'cancelled' then cancelled = cancelled + 1 end
    if f[1] then addMoves(moves, f[3], f[1], nil) end
    -- A debounce or replace key still naming this job goes with it (a window key expires by itself).
    if f[2] and redis.call('GET', base .. ':dd:' .. f[2]) == id then keys[#keys + 1] = base .. ':dd:' .. f[2] end
    -- Its log list exists once it logged ('logs'), a flow parent's lists of children with 'kids'; a job whose hash
    -- is gone may have left any of them. A DEL of a key that does not exist still costs Redis a look-up.
    keys[#keys + 1] = jk
    if f[4] or not f[1] then keys[#keys + 1] = base .. ':logs:' .. id end
    if f[5] or not f[1] then
      keys[#keys + 1] = base .. ':kids:' .. id
      keys[#keys + 1] = base .. ':ended:' .. id
    end
    deleted[#deleted + 1] = id
  end
end
if #deleted == 0 then return deleted end
if cancelled > 0 then redis.call('HINCRBY', base .. ':meta', 'cancelled', S(-cancelled)) end
writeMoves(base, moves)
chunked('DEL', nil, keys)
zremAll(set, deleted)
zremAll(base .. ':all', deleted)
if idsKey then chunked('HDEL', idsKey, deleted) end
return deleted
