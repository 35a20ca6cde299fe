--[[
  pattern-record: merge one flush of failures into the stored error patterns, keyed by (task, fingerprint), then keep
  at most maxPerTask patterns per task touched, dropping those seen longest ago.

  KEYS[1]  monitoring base "{<prefix>}" (see includes/monitor.lua)
  ARGV[1]  maxPerTask; ARGV[2] samples (most job ids kept per pattern)
  ARGV[3..] one JSON hit each: { fingerprint, task, queue, name, pattern, frame, count, jobIds } (distinct keys)

  A hit adds its count, sets last seen to Redis' now (and first seen when new), replaces queue, name, pattern and
  frame, and appends its job ids to the samples, keeping the newest. Returns nothing.
]]
-- @include common
-- @include monitor

local base = KEYS[1]
local maxPerTask, keep = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = clock()
local nowS = S(now)
local patterns = base .. ':patterns'
local touched = {}

for i = 3, #ARGV do
  local hit = cjson.decode(ARGV[i])
  local field = patternField(hit.task, hit.fingerprint)
  local count, first, samples = 0, nowS, {}
  local stored = redis.call('HGET', patterns, field)
  if stored then
    local p = cjson.decode(stored)
    count, first, samples = tonumber(p.count), p.first, p.samples
  end
  for _, id in ipairs(hit.jobIds) do samples[#samples + 1] = id end
  local kept = {}
  for k = math.max(1, #samples - keep + 1), #samples do kept[#kept + 1] = samples[k] end
  -- The count travels as text: cjson would print a large number in exponent form.
  redis.call('HSET', patterns, field, cjson.encode({ task = hit.task, fingerprint = hit.fingerprint, queue = hit.queue,
    name = hit.name, pattern = hit.pattern, frame = hit.frame, count = S(count + hit.count), first = first,
    samples = kept }))
  redis.call('ZADD', base .. ':patterns:seen', nowS, field)
  redis.call('ZADD', taskPatterns(base, hit.task), nowS, hit.fingerprint)
  touched[hit.task] = true
end

for task in pairs(touched) do
  local excess = redis.call('ZCARD', taskPatterns(base, task)) - maxPerTask
  if excess > 0 then
    for _, fingerprint in ipairs(redis.call('ZRANGE', taskPatterns(base, task), 0, excess - 1)) do
      dropPattern(base, patternField(task, fingerprint), task, fingerprint)
    end
  end
end
