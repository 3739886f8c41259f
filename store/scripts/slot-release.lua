--[[
  Gives a job's running slot back and picks parked jobs to wake, first in priority order.
  KEYS[1] the tenant's running slots zset, KEYS[2] the tenant's parked jobs zset
  ARGV[1] job id, ARGV[2] how many parked jobs to pick
  Returns the picked parked members (removed from the set: a job still waiting parks again).
]]
redis.call('ZREM', KEYS[1], ARGV[1])
local picked = redis.call('ZPOPMIN', KEYS[2], ARGV[2])
local out = {}
for i = 1, #picked, 2 do out[#out + 1] = picked[i] end
return out
