--[[
  Takes one of a tenant's running slots for a job, if the tenant is under its cap. Slots are
  leased: a zset of job id -> lease expiry (Redis time, so workers' clocks do not matter), expired
  entries dropped here first, so a worker that died holding slots loses them after one lease.
  A job refused at the cap is parked (KEYS[2]) so that the next slot given back wakes it.
  KEYS[1] the tenant's running slots zset, KEYS[2] the tenant's parked jobs zset
  ARGV[1] job id, ARGV[2] the cap, ARGV[3] lease in ms, ARGV[4] the job's parked member
  (`<queue>\n<BullMQ id>`), ARGV[5] its BullMQ priority (parked jobs wake in priority order),
  ARGV[6] how long the parked set is kept after its last change, in ms
  Returns {1, running} when the job holds a slot now (taken, or already its own: a stalled job
  run again on another worker keeps its first run's slot), {0, running} at the cap.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local running = redis.call('ZCARD', KEYS[1])
  if running >= tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
    redis.call('PEXPIRE', KEYS[2], ARGV[6])
    return {0, running}
  end
end
redis.call('ZREM', KEYS[2], ARGV[4])
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
-- The key outlives its longest lease (workers may be configured with different leases).
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return {1, redis.call('ZCARD', KEYS[1])}
