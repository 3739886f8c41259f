/**
 * Lua for tenant limits, fair share and running slots. Each runs atomically in one round trip,
 * so several API instances and workers share one limit without races.
 */

/*
 * The per-request gate: a token bucket for the request rate, and the daily token budget.
 * KEYS[1] the tenant's bucket hash (tokens, ts), KEYS[2] the tenant's usage hash for today
 * ARGV[1] now (epoch ms), ARGV[2] requests per second (0: no rate limit), ARGV[3] burst,
 * ARGV[4] daily token budget (0: none), ARGV[5] bucket expiry in ms,
 * ARGV[6] '1' when this request submits work (the token budget applies), ARGV[7] ms to the next UTC day
 * Returns {allowed 1|0, refused limit 0 none|1 requests|2 tokens, remaining requests (-1: no
 * rate limit), ms until the bucket is full, retry after ms, tokens used today}.
 * A refused request takes nothing from the bucket.
 */
export const GATE_LUA = `
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local used = 0
if budget > 0 then
  local u = redis.call('HMGET', KEYS[2], 'prompt_tokens', 'completion_tokens')
  used = (tonumber(u[1]) or 0) + (tonumber(u[2]) or 0)
end
if rate <= 0 then
  if ARGV[6] == '1' and budget > 0 and used >= budget then return {0, 2, -1, 0, tonumber(ARGV[7]), used} end
  return {1, 0, -1, 0, 0, used}
end
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
if ARGV[6] == '1' and budget > 0 and used >= budget then
  return {0, 2, math.floor(tokens), math.ceil((burst - tokens) * 1000 / rate), tonumber(ARGV[7]), used}
end
if tokens < 1 then
  return {0, 1, 0, math.ceil((burst - tokens) * 1000 / rate), math.ceil((1 - tokens) * 1000 / rate), used}
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {1, 0, math.floor(tokens), math.ceil((burst - tokens) * 1000 / rate), 0, used}
`;

/** The admission's pieces; `a` is the index into ARGV of the first of its six arguments. */
const capCheck = (jobs: string, a: number, refused: number) => `
local cap = tonumber(ARGV[${a + 4}])
if ARGV[${a + 5}] == '1' and cap > 0 then
  local queued = tonumber(redis.call('HGET', ${jobs}, 'queued') or '0')
  if queued >= cap then return {${refused}, queued} end
end
`;
const countWaiting = (jobs: string, a: number) => `
if ARGV[${a + 5}] == '1' then redis.call('HINCRBY', ${jobs}, 'queued', 1) end
`;
const fairTag = (clock: string, prioritized: string, a: number) => `
local base = tonumber(ARGV[${a + 2}])
local size = tonumber(ARGV[${a + 3}])
-- BullMQ scores a prioritized job priority * 2^32 + counter.
local head = redis.call('ZRANGEBYSCORE', ${prioritized}, base * 4294967296, (base + size) * 4294967296 - 1, 'LIMIT', 0, 1, 'WITHSCORES')
local v = 0
if #head == 0 then
  redis.call('DEL', ${clock})
else
  v = math.floor(tonumber(head[2]) / 4294967296) - base
end
local start = math.max(tonumber(redis.call('HGET', ${clock}, ARGV[${a}]) or '0'), v)
redis.call('HSET', ${clock}, ARGV[${a}], tostring(start + 1 / tonumber(ARGV[${a + 1}])))
local admitOffset = math.min(size - 1, math.floor(start))
`;

/**
 * The whole admission as a Lua fragment, shared by ADMIT_LUA and the job store's create script
 * (which admits and creates in one round trip on one server). `k`: indexes into KEYS of the
 * tenant's jobs hash, the model's fair clock for the class and the model's BullMQ prioritized
 * zset; `a`: the index into ARGV of the first of its six arguments (tenant, weight, class base,
 * band size, waiting cap, count flag). Over the cap it returns `{refused, waiting}`; otherwise
 * it leaves the job's offset in the band in the local `admitOffset`.
 */
export function admitLuaStep(k: { jobs: number; clock: number; prioritized: number }, a: number, refused: number): string {
  return capCheck(`KEYS[${k.jobs}]`, a, refused) + fairTag(`KEYS[${k.clock}]`, `KEYS[${k.prioritized}]`, a) + countWaiting(`KEYS[${k.jobs}]`, a);
}

/*
 * Admits one job of a tenant to a model's queue: checks the tenant's waiting cap, counts the job
 * as waiting, and gives it its fair-share start tag (start-time fair queueing on BullMQ
 * priorities): start = max(tenant's next tag, tag of the class's head job), next tag = start +
 * 1/weight. A class with nothing waiting resets its clock, so tags stay small.
 * KEYS[1] the tenant's jobs hash (queued, running), KEYS[2] the model's fair clock for this
 * class (tenant -> next tag), KEYS[3] the model's BullMQ prioritized zset
 * ARGV[1] tenant, ARGV[2] weight, ARGV[3] the class's lowest BullMQ priority, ARGV[4] the class's
 * band size, ARGV[5] waiting cap (0: none), ARGV[6] '1' to count the job as waiting, '0' for a
 * job that is already counted (a retry)
 * Returns {1, offset} (BullMQ priority = ARGV[3] + offset) or {0, waiting} over the cap.
 *
 * On a Redis Cluster the tenant's keys and the model's keys live in different slots, so the
 * same steps run as two scripts with the same ARGV: ADMIT_TENANT_LUA (KEYS[1] the tenant's jobs
 * hash: cap and count, returns {1, 0} or {0, waiting}) and then FAIR_TAG_LUA (KEYS[1] the fair
 * clock, KEYS[2] the prioritized zset: returns {1, offset}); the caller gives the count back if
 * the second fails.
 */
export const ADMIT_LUA = `${admitLuaStep({ jobs: 1, clock: 2, prioritized: 3 }, 1, 0)}return {1, admitOffset}`;
export const ADMIT_TENANT_LUA = `${capCheck('KEYS[1]', 1, 0)}${countWaiting('KEYS[1]', 1)}return {1, 0}`;
export const FAIR_TAG_LUA = `${fairTag('KEYS[1]', 'KEYS[2]', 1)}return {1, admitOffset}`;

/*
 * Takes one of a tenant's running slots for a job, if the tenant is under its cap. Slots are
 * leased: a zset of job id -> lease expiry (Redis time, so workers' clocks do not matter), expired
 * entries dropped here first, so a worker that died holding slots loses them after one lease.
 * A job refused at the cap is parked (KEYS[2]) so that the next slot given back wakes it.
 * KEYS[1] the tenant's running slots zset, KEYS[2] the tenant's parked jobs zset
 * ARGV[1] job id, ARGV[2] the cap, ARGV[3] lease in ms, ARGV[4] the job's parked member
 * (`<queue>\n<BullMQ id>`), ARGV[5] its BullMQ priority (parked jobs wake in priority order),
 * ARGV[6] how long the parked set is kept after its last change, in ms
 * Returns {1, running} when the job holds a slot now (taken, or already its own: a stalled job
 * run again on another worker keeps its first run's slot), {0, running} at the cap.
 */
export const TAKE_SLOT_LUA = `
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
`;

/*
 * Gives a job's running slot back and picks parked jobs to wake, first in priority order.
 * KEYS[1] the tenant's running slots zset, KEYS[2] the tenant's parked jobs zset
 * ARGV[1] job id, ARGV[2] how many parked jobs to pick
 * Returns the picked parked members (removed from the set: a job still waiting parks again).
 */
export const RELEASE_SLOT_LUA = `
redis.call('ZREM', KEYS[1], ARGV[1])
local picked = redis.call('ZPOPMIN', KEYS[2], ARGV[2])
local out = {}
for i = 1, #picked, 2 do out[#out + 1] = picked[i] end
return out
`;

/*
 * Renews the leases of running slots a worker holds. A slot already dropped (its lease ran out
 * while the worker could not renew it) is not brought back: it may have been given to another job.
 * KEYS[1] the tenant's running slots zset
 * ARGV[1] lease in ms, ARGV[2..] job ids
 * Returns how many leases were renewed.
 */
export const RENEW_SLOTS_LUA = `
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local n = 0
for i = 2, #ARGV do
  n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', expiry, ARGV[i])
end
if n > 0 and redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`;
