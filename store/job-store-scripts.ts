/**
 * Lua for the job record. Each script changes the record, appends to its event stream and
 * notifies the events bus atomically, in one round trip. Bus messages are
 * `<jobId> <streamId> status <status>`, `<jobId> <streamId> <type>`, or for a token of at most
 * BUS_TOKEN_MAX_BYTES `<jobId> <streamId> token <text>` (its reader need not read the stream).
 */
import { TERMINAL_STATUSES } from '../protocol/statuses.js';
import { admitLuaStep } from './tenant-scripts.js';

/** Tokens up to this size ride on their bus message; longer ones are read from the stream. */
export const BUS_TOKEN_MAX_BYTES = 4096;

/** `,succeeded,failed,...,` for a plain substring test in Lua. */
const TERMINAL_LIST = `,${[...TERMINAL_STATUSES].join(',')},`;

/*
 * Admits a job for its tenant (waiting cap, fair-share priority: see admitLuaStep) and creates
 * its record in status `queued`, unless the model's backlog is full, in one round trip.
 * KEYS[1] job hash, KEYS[2] job event stream (both new: job ids are random, 128 bits),
 * KEYS[3] BullMQ wait list, KEYS[4] BullMQ prioritized zset (of the model's queue),
 * KEYS[5] deadlines zset of the job's tag (the expiry sweeper's index)
 * KEYS[6] the model's admissions zset: jobs created here and not yet added to BullMQ (score:
 *         the API's clock in ms; the caller removes each once its add returned; at the bound,
 *         entries older than ADMISSION_TTL_MS are dropped, so a crash between the two steps
 *         cannot hold a slot)
 * KEYS[7] the tenant's jobs hash, KEYS[8] the model's fair clock for the job's priority class:
 *         read only when the job is admitted here (ARGV[12] '1'). KEYS[1..6] and KEYS[8] share
 *         the model's hash tag; on a Redis Cluster the tenant's hash lives in another slot, so
 *         there the caller admits first (two scripts) and passes a key of the model's slot.
 * ARGV[1] maximum backlog (waiting + prioritized + admitted jobs)
 * ARGV[2] approximate maximum length of the event stream
 * ARGV[3] first event data (JSON)
 * ARGV[4] job id, ARGV[5] expiry deadline in epoch ms (0: none)
 * ARGV[6..11] the admission's arguments (tenant, weight, class base, band size, waiting cap,
 *         count flag)
 * ARGV[12] '1' to admit the job here; otherwise ARGV[13] is its BullMQ priority, admitted already
 * ARGV[14] now (epoch ms)
 * ARGV[15..] field, value pairs of the record
 * Returns {1, position, depth, priority}: jobs ahead of this one, the backlog including it and
 * the BullMQ priority to add it with; {0, backlog} when the backlog is full; {2, waiting} when
 * the tenant has its limit of jobs waiting (nothing written either way).
 * The check counts admissions in flight, so concurrent submissions can never take the queue
 * past its bound (a job already added but not yet removed from KEYS[6] counts twice for a moment:
 * the bound may refuse early, never late).
 */
export const ADMISSION_TTL_MS = 30_000;
export const CREATE_LUA = `
local nowMs = tonumber(ARGV[14])
local waiting = redis.call('LLEN', KEYS[3])
local prioritized = redis.call('ZCARD', KEYS[4])
local admitting = redis.call('ZCARD', KEYS[6])
local backlog = waiting + prioritized
if backlog + admitting >= tonumber(ARGV[1]) then
  -- At the bound: drop admissions left by a crash between the create and the add, count again.
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', nowMs - ${ADMISSION_TTL_MS})
  admitting = redis.call('ZCARD', KEYS[6])
  if backlog + admitting >= tonumber(ARGV[1]) then return {0, backlog + admitting} end
end
local priority = tonumber(ARGV[13])
if ARGV[12] == '1' then
${admitLuaStep({ jobs: 7, clock: 8, prioritized: 4 }, 6, 2)}
  priority = base + admitOffset
end
redis.call('ZADD', KEYS[6], nowMs, ARGV[4])
-- BullMQ scores prioritized jobs priority * 2^32 + counter: all with a priority <= ours are ahead.
local ahead = waiting + redis.call('ZCOUNT', KEYS[4], 0, (priority + 1) * 4294967296 - 1)
redis.call('HSET', KEYS[1], unpack(ARGV, 15))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'type', 'status', 'data', ARGV[3])
if tonumber(ARGV[5]) > 0 then redis.call('ZADD', KEYS[5], ARGV[5], ARGV[4]) end
return {1, ahead, backlog + 1, priority}
`;

/*
 * Drops swept ids from the deadlines zset, each only if its deadline is still the one that was
 * due (a retry in between set a later one, which must stay).
 * KEYS[1] deadlines zset of one tag; ARGV[1] now (epoch ms); ARGV[2..] job ids of that tag
 */
export const CLEAR_DEADLINES_LUA = `
local n = 0
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) <= tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`;

/*
 * KEYS[1] job hash, KEYS[2] job event stream; the owning tenant's ledger as the caller believes
 * it (used only when ARGV[9] names the record's tenant): KEYS[3] its jobs hash (queued,
 * running), KEYS[4] its usage on the day the job ends, KEYS[5] its usage since the start,
 * KEYS[6] the fleet's usage since the start
 * ARGV[1] new status
 * ARGV[2] comma-separated statuses the job may be in for the change to apply
 * ARGV[3] event data (JSON) appended to the stream as {type=status, data}
 * ARGV[4] events bus channel
 * ARGV[5] seconds to keep the record once this status is set (0: no expiry)
 * ARGV[6] approximate maximum length of the event stream
 * ARGV[7] job id
 * ARGV[8] text still to append as a token event before the status event ('' for none)
 * ARGV[9] the tenant KEYS[3..5] belong to ('' when the caller does not know it)
 * ARGV[10] prompt tokens, ARGV[11] completion tokens, ARGV[12] finished at (epoch ms, 0: now
 *          unknown), ARGV[13] seconds to keep the day's usage: counted when the status is terminal
 * ARGV[14..] field, value pairs written to the hash with the status
 * Returns {1, streamId, previousStatus, tenant, model, started_at, counted, counts_waiting} when
 * applied (counted 1: the tenant's counts and usage moved here; otherwise the caller moves them),
 * {0, currentStatus} when refused, {-1} when no such job.
 */
export const TRANSITION_LUA = `
local rec = redis.call('HMGET', KEYS[1], 'status', 'tenant', 'model', 'started_at', 'counts_waiting')
local current = rec[1]
if not current then return {-1} end
local allowed = false
for s in string.gmatch(ARGV[2], '([^,]+)') do
  if s == current then allowed = true end
end
if not allowed then return {0, current} end
if ARGV[8] ~= '' then
  local tid = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'type', 'token', 'data', ARGV[8])
  local text = ''
  if #ARGV[8] <= ${BUS_TOKEN_MAX_BYTES} then text = ' ' .. ARGV[8] end
  redis.call('PUBLISH', ARGV[4], ARGV[7] .. ' ' .. tid .. ' token' .. text)
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], unpack(ARGV, 14))
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'type', 'status', 'data', ARGV[3])
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
elseif string.find(${JSON.stringify(TERMINAL_LIST)}, ',' .. current .. ',', 1, true) then
  -- Leaving a terminal status (a retry): the record lives on without its expiry.
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[7] .. ' ' .. id .. ' status ' .. ARGV[1])
local tenant = rec[2] or ''
if tenant == '' or ARGV[9] ~= tenant then return {1, id, current, tenant, rec[3] or '', rec[4] or '', 0, rec[5] or ''} end
if current ~= ARGV[1] then
  -- Batch lines (counts_waiting 0) are not among the waiting jobs the admission counted.
  local waits = rec[5] ~= '0'
  if current == 'running' or (current == 'queued' and waits) then redis.call('HINCRBY', KEYS[3], current, -1) end
  if ARGV[1] == 'running' or (ARGV[1] == 'queued' and waits) then redis.call('HINCRBY', KEYS[3], ARGV[1], 1) end
  if string.find(${JSON.stringify(TERMINAL_LIST)}, ',' .. ARGV[1] .. ',', 1, true) then
    local gpu = 0
    local started = tonumber(rec[4] or '')
    local finished = tonumber(ARGV[12])
    if current == 'running' and started and finished > 0 and finished > started then gpu = finished - started end
    for k = 4, 6 do
      redis.call('HINCRBY', KEYS[k], 'jobs_' .. ARGV[1], 1)
      if ARGV[10] ~= '0' then redis.call('HINCRBY', KEYS[k], 'prompt_tokens', ARGV[10]) end
      if ARGV[11] ~= '0' then redis.call('HINCRBY', KEYS[k], 'completion_tokens', ARGV[11]) end
      if gpu > 0 then redis.call('HINCRBY', KEYS[k], 'gpu_ms', gpu) end
    end
    redis.call('EXPIRE', KEYS[4], ARGV[13])
  end
end
return {1, id, current, tenant, rec[3] or '', rec[4] or '', 1}
`;

/*
 * Appends a non-status event (token text, load progress) and notifies the bus.
 * KEYS[1] job event stream
 * ARGV[1] event type, ARGV[2] data, ARGV[3] approximate maximum stream length,
 * ARGV[4] events bus channel, ARGV[5] job id
 * Returns the stream id.
 */
export const APPEND_LUA = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'type', ARGV[1], 'data', ARGV[2])
local text = ''
if ARGV[1] == 'token' and #ARGV[2] <= ${BUS_TOKEN_MAX_BYTES} then text = ' ' .. ARGV[2] end
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. id .. ' ' .. ARGV[1] .. text)
return id
`;
