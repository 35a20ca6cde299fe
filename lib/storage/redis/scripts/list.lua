--[[
  list: one queue's jobs newest first (by creation order), after a cursor, optionally filtered (read-only).
  Scans at most ARGV[6] jobs so a selective filter over a long history cannot stall the server; the client then
  continues from the returned boundary.

  KEYS[1]  queue base "{<prefix>:<queue>}"
  ARGV[1]  cursor order ('+inf' = from the newest); ARGV[2] cursor id ('' = none): only jobs before (order, id)
  ARGV[3]  state filter ('' = any); ARGV[4] task filter ('' = any); ARGV[5] most matches; ARGV[6] most jobs scanned

  Returns { { { order, job snapshot } ... }, boundary order ('' when the scan was complete),
  boundary id }.
]]
-- @include common

local base = KEYS[1]
local maxOrder, cursorId, wantState, wantTask = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit, maxScan = tonumber(ARGV[5]), tonumber(ARGV[6])
local filtered = wantState ~= '' or wantTask ~= ''
local found, scanned = {}, 0
local lastOrder, lastId = '', ''
local from = maxOrder
while #found < limit do
  local page = redis.call('ZREVRANGEBYSCORE', base .. ':all', from, '-inf', 'WITHSCORES', 'LIMIT', 0, 100)
  if #page == 0 then return { found, '', '' } end
  -- Orders are unique within a queue, so the next page starts just below this one's last order (no growing offset).
  from = '(' .. page[#page]
  for i = 1, #page, 2 do
    local id, order = page[i], page[i + 1]
    -- Orders are unique within a queue, so the cursor's own order only ever names the cursor job itself here.
    if not (order == maxOrder and cursorId ~= '' and id >= cursorId) then
      scanned = scanned + 1
      local jk = jobKey(base, id)
      local match = true
      if filtered then
        local f = redis.call('HMGET', jk, 'state', 'task')
        match = (wantState == '' or f[1] == wantState) and (wantTask == '' or f[2] == wantTask)
      end
      if match then
        local job = snapshot(base, jk, id)
        -- Skip an id whose hash vanished (evicted, deleted by hand) rather than return an empty record.
        if job[F_STATE] then found[#found + 1] = { order, job } end
        if #found >= limit then return { found, '', '' } end
      end
      lastOrder, lastId = order, id
      if scanned >= maxScan then return { found, lastOrder, lastId } end
    end
  end
end
return { found, '', '' }
