--[[
  unlock: release a lock key only if this holder still owns it (it may have expired and been taken by another).

  KEYS[1]  the lock key, e.g. "{<prefix>}:prune-lock"
  ARGV[1]  the holder's random token

  Returns 1 when the lock was released, 0 when another holder (or nobody) has it.
]]

if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
