--[[
  Deletes a lease only if this owner still holds it, so a late release never drops a successor's.
  KEYS[1] lease key
  ARGV[1] owner token
  Returns 1 if deleted, 0 otherwise.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
