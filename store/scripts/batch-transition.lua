--[[
  Moves a batch to a new status if it is in one of the allowed ones (includes/status-cas).
  KEYS[1] batch hash
  ARGV[1] new status, ARGV[2] allowed current statuses (comma separated),
  ARGV[3..] field, value pairs to set with it
  Returns 1, the current status when not allowed, or '' when there is no such batch.
]]
--- @include "includes/status-cas"

local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return '' end
if not statusAllowed(cur, ARGV[2]) then return cur end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
