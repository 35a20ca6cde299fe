--[[
  pattern-list: stored error patterns, most recently seen first, optionally of one task and/or one queue (read-only).

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1]  '1' to filter by task, then ARGV[2] the task; ARGV[3] '1' to filter by queue, then ARGV[4] the queue
  ARGV[5]  most patterns returned

  Returns { { stored JSON (see includes/monitor.lua), last seen ms } ... }.
]]
-- @include common
-- @include monitor

local base = KEYS[1]
local task, queue = nil, nil
if ARGV[1] == '1' then task = ARGV[2] end
if ARGV[3] == '1' then queue = ARGV[4] end
local limit = tonumber(ARGV[5])
local patterns = base .. ':patterns'
-- One task: its own set names fingerprints. Otherwise the set of all patterns names fields.
local set = base .. ':patterns:seen'
if task then set = taskPatterns(base, task) end

local found = {}
local offset = 0
while #found < limit do
  local page = redis.call('ZREVRANGE', set, offset, offset + 99, 'WITHSCORES')
  if #page == 0 then break end
  offset = offset + 100
  for i = 1, #page, 2 do
    local field = page[i]
    if task then field = patternField(task, page[i]) end
    local stored = redis.call('HGET', patterns, field)
    if stored and (not queue or cjson.decode(stored).queue == queue) then
      found[#found + 1] = { stored, page[i + 1] }
      if #found >= limit then break end
    end
  end
end
return found
