--[[
  flow-step: on a Cluster, move the parent of a child that ended in another hash slot (the second step of a child's
  end; see includes/flows.lua). Idempotent: a child already counted, or a parent no longer waiting, changes nothing.

  KEYS[1]  the parent's queue base "{<prefix>:<parent queue>}"
  ARGV[1]  parent id; ARGV[2] child id; ARGV[3] child state ('completed', 'failed', 'cancelled'); ARGV[4] the
           child's onFailure; ARGV[5] the child's task; ARGV[6] messages.childFailed in parts (JSON)

  Returns 1 when the parent failed and left a note for its own parent in this slot's flowout, else 0.
]]
-- @include common
-- @include flows

if parentStep(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], clock(), ARGV[6]) then return 1 end
return 0
