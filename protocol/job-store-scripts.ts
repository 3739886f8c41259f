/**
 * Lua for the job record. Each script changes the record, appends to its event stream and
 * notifies the events bus atomically, in one round trip. Bus messages are
 * `<jobId> <streamId> <type> [status]`.
 */

/*
 * Creates a job record in status `queued`, unless the model's backlog is full.
 * KEYS[1] job hash, KEYS[2] job event stream, KEYS[3] job delivery log,
 * KEYS[4] BullMQ wait list, KEYS[5] BullMQ prioritized zset (of the model's queue),
 * KEYS[6] deadlines zset of the job's tag (the expiry sweeper's index)
 * (All keys share the model's hash tag: one Redis Cluster slot.)
 * KEYS[7] the model's admissions zset: jobs created here and not yet added to BullMQ (score:
 *         Redis time in ms; the caller removes each once its add returned; entries older than
 *         ADMISSION_TTL_MS are dropped, so a crash between the two steps cannot hold a slot)
 * ARGV[1] maximum backlog (waiting + prioritized + admitted jobs)
 * ARGV[2] BullMQ priority the job will get
 * ARGV[3] approximate maximum length of the event stream
 * ARGV[4] first event data (JSON)
 * ARGV[5] job id, ARGV[6] expiry deadline in epoch ms (0: none)
 * ARGV[7..] field, value pairs of the record
 * Returns {1, position, depth}: jobs ahead of this one and the backlog including it, or
 * {0, backlog} when the backlog is full (nothing written).
 * The check counts admissions in flight, so concurrent submissions can never take the queue
 * past its bound (a job already added but not yet removed from KEYS[7] counts twice for a moment:
 * the bound may refuse early, never late).
 */
export const ADMISSION_TTL_MS = 30_000;
export const CREATE_LUA = `
local t = redis.call('TIME')
local nowMs = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', nowMs - ${ADMISSION_TTL_MS})
local waiting = redis.call('LLEN', KEYS[4])
local prioritized = redis.call('ZCARD', KEYS[5])
local admitting = redis.call('ZCARD', KEYS[7])
local backlog = waiting + prioritized
if backlog + admitting >= tonumber(ARGV[1]) then return {0, backlog + admitting} end
redis.call('ZADD', KEYS[7], nowMs, ARGV[5])
redis.call('PEXPIRE', KEYS[7], ${ADMISSION_TTL_MS})
-- BullMQ scores prioritized jobs priority * 2^32 + counter: all with a priority <= ours are ahead.
local ahead = waiting + redis.call('ZCOUNT', KEYS[5], 0, (tonumber(ARGV[2]) + 1) * 4294967296 - 1)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'type', 'status', 'data', ARGV[4])
if tonumber(ARGV[6]) > 0 then redis.call('ZADD', KEYS[6], ARGV[6], ARGV[5]) end
return {1, ahead, backlog + 1}
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
 * KEYS[1] job hash, KEYS[2] job event stream
 * ARGV[1] new status
 * ARGV[2] comma-separated statuses the job may be in for the change to apply
 * ARGV[3] event data (JSON) appended to the stream as {type=status, data}
 * ARGV[4] events bus channel
 * ARGV[5] seconds to keep the record once this status is set (0: no expiry)
 * ARGV[6] approximate maximum length of the event stream
 * ARGV[7] job id
 * ARGV[8] text still to append as a token event before the status event ('' for none)
 * ARGV[9..] field, value pairs written to the hash with the status
 * Returns {1, streamId, previousStatus, tenant, model, started_at} when applied (the rest feed
 * the tenant ledger), {0, currentStatus} when refused, {-1} when no such job.
 */
export const TRANSITION_LUA = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {-1} end
local allowed = false
for s in string.gmatch(ARGV[2], '([^,]+)') do
  if s == current then allowed = true end
end
if not allowed then return {0, current} end
if ARGV[8] ~= '' then
  local tid = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'type', 'token', 'data', ARGV[8])
  redis.call('PUBLISH', ARGV[4], ARGV[7] .. ' ' .. tid .. ' token')
end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
if #ARGV >= 9 then redis.call('HSET', KEYS[1], unpack(ARGV, 9)) end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'type', 'status', 'data', ARGV[3])
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
redis.call('PUBLISH', ARGV[4], ARGV[7] .. ' ' .. id .. ' status ' .. ARGV[1])
local owner = redis.call('HMGET', KEYS[1], 'tenant', 'model', 'started_at')
return {1, id, current, owner[1] or '', owner[2] or '', owner[3] or ''}
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
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. id .. ' ' .. ARGV[1])
return id
`;
