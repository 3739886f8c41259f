--[[
  Drops swept ids from the deadlines zset, each only if its deadline is still the one that was
  due (a retry in between set a later one, which must stay).
  KEYS[1] deadlines zset of one tag
  ARGV[1] now (epoch ms), ARGV[2..] job ids of that tag
  Returns how many were dropped.
]]
local n = 0
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) <= tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
