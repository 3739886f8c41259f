--[[
  Admits a job for its tenant (waiting cap, fair-share priority: includes/admission) and creates
  its record in status `queued`, unless the model's backlog is full, in one round trip.
  KEYS[1] job hash, KEYS[2] job event stream (both new: job ids are random, 128 bits)
  KEYS[3] BullMQ wait list, KEYS[4] BullMQ prioritized zset (of the model's queue)
  KEYS[5] deadlines zset of the job's tag (the expiry sweeper's index)
  KEYS[6] the model's admissions zset: jobs created here and not yet added to BullMQ (score:
          the API's clock in ms; the caller removes each once its add returned; at the bound,
          entries older than {{ADMISSION_TTL_MS}} ms are dropped, so a crash between the two
          steps cannot hold a slot)
  KEYS[7] the tenant's jobs hash, KEYS[8] the model's fair clock for the job's priority class:
          read only when the job is admitted here (ARGV[12] '1'). KEYS[1..6] and KEYS[8] share
          the model's hash tag; on a Redis Cluster the tenant's hash lives in another slot, so
          there the caller admits first (tenant-admit-cap, tenant-fair-tag) and passes a key of
          the model's slot.
  ARGV[1] maximum backlog (waiting + prioritized + admitted jobs)
  ARGV[2] approximate maximum length of the event stream
  ARGV[3] first event data (JSON)
  ARGV[4] job id, ARGV[5] expiry deadline in epoch ms (0: none)
  ARGV[6..11] the admission's arguments (includes/admission)
  ARGV[12] '1' to admit the job here; otherwise ARGV[13] is its BullMQ priority, admitted already
  ARGV[14] now (epoch ms)
  ARGV[15..] field, value pairs of the record
  Returns {1, position, depth, priority}: jobs ahead of this one, the backlog including it and
  the BullMQ priority to add it with; {0, backlog} when the backlog is full; {2, waiting} when
  the tenant has its limit of jobs waiting (nothing written either way).
  The check counts admissions in flight, so concurrent submissions can never take the queue
  past its bound (a job already added but not yet removed from KEYS[6] counts twice for a
  moment: the bound may refuse early, never late).
]]
--- @include "includes/admission"

local nowMs = tonumber(ARGV[14])
local waiting = redis.call('LLEN', KEYS[3])
local prioritized = redis.call('ZCARD', KEYS[4])
local admitting = redis.call('ZCARD', KEYS[6])
local backlog = waiting + prioritized
if backlog + admitting >= tonumber(ARGV[1]) then
  -- At the bound: drop admissions left by a crash between the create and the add, count again.
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', nowMs - {{ADMISSION_TTL_MS}})
  admitting = redis.call('ZCARD', KEYS[6])
  if backlog + admitting >= tonumber(ARGV[1]) then return {0, backlog + admitting} end
end
local priority = tonumber(ARGV[13])
if ARGV[12] == '1' then
  local adm = admissionArgs(6)
  local full = waitingCapReached(KEYS[7], adm)
  if full then return {2, full} end
  local offset = fairTag(KEYS[8], KEYS[4], adm)
  countWaiting(KEYS[7], adm)
  priority = adm.base + offset
end
redis.call('ZADD', KEYS[6], nowMs, ARGV[4])
-- All prioritized jobs with a priority up to ours are ahead, and every plain waiting one.
local ahead = waiting + redis.call('ZCOUNT', KEYS[4], 0, priorityScore(priority + 1) - 1)
redis.call('HSET', KEYS[1], unpack(ARGV, 15))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', 'status', 'data', ARGV[3])
if tonumber(ARGV[5]) > 0 then redis.call('ZADD', KEYS[5], ARGV[5], ARGV[4]) end
return {1, ahead, backlog + 1, priority}
