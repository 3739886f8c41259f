--[[
  Extends a lease only if this owner still holds it.
  KEYS[1] lease key
  ARGV[1] owner token, ARGV[2] ttl in ms
  Returns 1 if extended, 0 if the key is absent or held by another owner.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
