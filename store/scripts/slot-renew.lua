--[[
  Renews the leases of running slots a worker holds. A slot already dropped (its lease ran out
  while the worker could not renew it) is not brought back: it may have been given to another job.
  KEYS[1] the tenant's running slots zset
  ARGV[1] lease in ms, ARGV[2..] job ids
  Returns how many leases were renewed.
]]
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', expiry, ARGV[i])
end
if n > 0 and redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
