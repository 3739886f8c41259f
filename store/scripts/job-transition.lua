--[[
  Moves a job to a new status if it is in one of the allowed ones: writes the record, appends
  the status event (after any pending token text), announces both on the events bus, sets or
  clears the record's expiry and, when the caller names the record's tenant (one server, where
  the tenant's keys can be touched here), moves its counts and usage in the same step.
  KEYS[1] job hash, KEYS[2] job event stream; the owning tenant's ledger as the caller believes
  it (used only when ARGV[9] names the record's tenant): KEYS[3] its jobs hash (queued,
  running), KEYS[4] its usage on the day the job ends, KEYS[5] its usage since the start,
  KEYS[6] the fleet's usage since the start
  ARGV[1] new status
  ARGV[2] comma-separated statuses the job may be in for the change to apply
  ARGV[3] event data (JSON) appended to the stream as {type=status, data}
  ARGV[4] events bus channel
  ARGV[5] seconds to keep the record once this status is set (0: no expiry)
  ARGV[6] approximate maximum length of the event stream
  ARGV[7] job id
  ARGV[8] text still to append as a token event before the status event ('' for none)
  ARGV[9] the tenant KEYS[3..5] belong to ('' when the caller does not know it)
  ARGV[10] prompt tokens, ARGV[11] completion tokens, ARGV[12] finished at (epoch ms, 0:
           unknown), ARGV[13] seconds to keep the day's usage: counted when the status is terminal
  ARGV[14..] field, value pairs written to the hash with the status
  Returns {1, streamId, previousStatus, tenant, model, started_at, counted, counts_waiting} when
  applied (counted 1: the tenant's counts and usage moved here; otherwise the caller moves them
  with tenant-account), {0, currentStatus} when refused, {-1} when no such job.
]]
--- @include "includes/status-cas"
--- @include "includes/job-events"
--- @include "includes/tenant-accounting"

local rec = redis.call('HMGET', KEYS[1], 'status', 'tenant', 'model', 'started_at', 'counts_waiting')
local current = rec[1]
if not current then return {-1} end
if not statusAllowed(current, ARGV[2]) then return {0, current} end
if ARGV[8] ~= '' then appendJobEvent(KEYS[2], ARGV[6], ARGV[4], ARGV[7], 'token', ARGV[8]) end
redis.call('HSET', KEYS[1], 'status', ARGV[1], unpack(ARGV, 14))
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'type', 'status', 'data', ARGV[3])
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
elseif isTerminal(current) then
  -- Leaving a terminal status (a retry): the record lives on without its expiry.
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[7] .. ' ' .. id .. ' status ' .. ARGV[1])
local tenant = rec[2] or ''
if tenant == '' or ARGV[9] ~= tenant then return {1, id, current, tenant, rec[3] or '', rec[4] or '', 0, rec[5] or ''} end
accountStatusChange({
  jobs = KEYS[3], usages = {KEYS[4], KEYS[5], KEYS[6]}, dayUsage = KEYS[4],
  from = current, to = ARGV[1], countsWaiting = rec[5], startedAt = rec[4], finishedAt = ARGV[12],
  promptTokens = ARGV[10], completionTokens = ARGV[11], dayTtlSec = ARGV[13],
})
return {1, id, current, tenant, rec[3] or '', rec[4] or '', 1}
