--[[
  counts-tasks: jobs per state of some tasks in one queue (read-only), from the per-task counts every state change
  keeps (B:tc, see includes/common.lua): a few hash fields, never a scan of the jobs. Scheduled jobs already due count
  as waiting, as in counts.lua: the due ones are read to learn their task, at most 1000 (claims and maintenance
  promote them 1000 at a time, so more are due only while no worker or maintenance runs; the rest stay scheduled).

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV     task names (at most 500)

  Returns one array per task, in ARGV order: { waiting-children, waiting, scheduled, active, completed, failed,
  cancelled }.
]]
-- @include common

local base = KEYS[1]
local STATES = { 'waiting-children', 'waiting', 'scheduled', 'active', 'completed', 'failed', 'cancelled' }
local WAITING, SCHEDULED = 2, 3
local fields, index = {}, {}
for i, task in ipairs(ARGV) do
  index[task] = i
  for j, state in ipairs(STATES) do fields[(i - 1) * 7 + j] = state .. ':' .. task end
end
if #fields == 0 then return {} end
local values = redis.call('HMGET', base .. ':tc', unpack(fields))
local out = {}
for i = 1, #ARGV do
  local counts = {}
  -- Never below 0: jobs written before the store kept these counts leave them when they change state.
  for j = 1, 7 do counts[j] = math.max(0, tonumber(values[(i - 1) * 7 + j] or '0')) end
  out[i] = counts
end
local now = clock()
for _, id in ipairs(redis.call('ZRANGEBYSCORE', base .. ':scheduled', '-inf', S(now), 'LIMIT', 0, 1000)) do
  local i = index[redis.call('HGET', jobKey(base, id), 'task') or '']
  if i and out[i][SCHEDULED] > 0 then
    out[i][SCHEDULED] = out[i][SCHEDULED] - 1
    out[i][WAITING] = out[i][WAITING] + 1
  end
end
return out
