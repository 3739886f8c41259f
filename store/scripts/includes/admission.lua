--[[
  A tenant's admission of one job to a model's queue, in the steps a script runs in this order:
  waitingCapReached (refused over the tenant's waiting cap), fairTag (the job's offset in its
  class's band of BullMQ priorities: start-time fair queueing) and countWaiting.
  Its six ARGV, read by admissionArgs(first): tenant, weight, the class's lowest BullMQ
  priority, the class's band size, waiting cap (0: none), count flag ('1' to count the job as
  waiting, '0' for a job that is already counted: a retry, or a batch line).
]]
--- @include "includes/priority"

local function admissionArgs(first)
  return {
    tenant = ARGV[first],
    weight = tonumber(ARGV[first + 1]),
    base = tonumber(ARGV[first + 2]),
    size = tonumber(ARGV[first + 3]),
    cap = tonumber(ARGV[first + 4]),
    count = ARGV[first + 5] == '1',
  }
end

-- The tenant's waiting jobs when it already has its cap of them (the job is refused); nil otherwise.
local function waitingCapReached(jobs, adm)
  if adm.count and adm.cap > 0 then
    local queued = tonumber(redis.call('HGET', jobs, 'queued') or '0')
    if queued >= adm.cap then return queued end
  end
  return nil
end

local function countWaiting(jobs, adm)
  if adm.count then redis.call('HINCRBY', jobs, 'queued', 1) end
end

-- start = max(tenant's next tag, tag of the class's head job), next tag = start + 1/weight. A
-- class with nothing waiting resets its clock, so tags stay small. Returns the job's offset in
-- its class's band (BullMQ priority = base + offset).
local function fairTag(clock, prioritized, adm)
  local head = redis.call('ZRANGEBYSCORE', prioritized, priorityScore(adm.base), priorityScore(adm.base + adm.size) - 1, 'LIMIT', 0, 1, 'WITHSCORES')
  local v = 0
  if #head == 0 then
    redis.call('DEL', clock)
  else
    v = priorityOfScore(tonumber(head[2])) - adm.base
  end
  local start = math.max(tonumber(redis.call('HGET', clock, adm.tenant) or '0'), v)
  redis.call('HSET', clock, adm.tenant, tostring(start + 1 / adm.weight))
  return math.min(adm.size - 1, math.floor(start))
end
