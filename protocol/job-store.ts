/**
 * The job record (one Redis hash per job) and its event stream. Status changes go through
 * one Lua script so a transition, its event and its notification are atomic and a terminal
 * status is never overwritten by a late writer (a cancel racing a completion, say).
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import type { JobRecord, Priority, Task } from './job.js';
import type { StoredStatus } from './statuses.js';
import { TERMINAL_STATUSES } from './statuses.js';

/*
 * KEYS[1] job hash, KEYS[2] job event stream
 * ARGV[1] new status
 * ARGV[2] comma-separated statuses the job may be in for the change to apply
 * ARGV[3] event data (JSON) appended to the stream as {type=status, data}
 * ARGV[4] pub/sub channel notified with `<streamId> status <newStatus>`
 * ARGV[5] seconds to keep the record once this status is set (0: no expiry)
 * ARGV[6] approximate maximum length of the event stream
 * ARGV[7..] field, value pairs written to the hash with the status
 * Returns {1, streamId} when applied, {0, currentStatus} when refused, {-1} when no such job.
 */
const TRANSITION_LUA = `
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {-1} end
local allowed = false
for s in string.gmatch(ARGV[2], '([^,]+)') do
  if s == current then allowed = true end
end
if not allowed then return {0, current} end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'type', 'status', 'data', ARGV[3])
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
else
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
end
redis.call('PUBLISH', ARGV[4], id .. ' status ' .. ARGV[1])
return {1, id}
`;

export interface JobStoreOptions {
  /** Seconds a finished job (and its events) is kept. */
  resultTtlSec: number;
  eventsMaxLen: number;
}

export const JOB_STORE_DEFAULTS: JobStoreOptions = { resultTtlSec: 3600, eventsMaxLen: 10_000 };

export type TransitionResult = { ok: true; eventId: string } | { ok: false; current: StoredStatus | null };

export interface JobEvent {
  id: string;
  type: 'status' | 'token' | 'progress';
  data: string;
}

export type NewJob = Pick<
  JobRecord,
  'id' | 'tenant' | 'model' | 'task' | 'priority' | 'input' | 'webhook' | 'metadata' | 'timeoutMs' | 'deadline' | 'createdAt'
>;

type Fields = Record<string, string | number | null | undefined | object | boolean>;

function encodeFields(fields: Fields): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    out.push(k, v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  return out;
}

const json = <T>(s: string | undefined, fallback: T): T => (s ? (JSON.parse(s) as T) : fallback);
const num = (s: string | undefined): number | null => (s ? Number(s) : null);

/** Decodes a job hash; `null` for a missing job. */
export function decodeRecord(h: Record<string, string>): JobRecord | null {
  if (!h.id) return null;
  return {
    id: h.id,
    tenant: h.tenant ?? '',
    model: h.model ?? '',
    task: h.task as Task,
    status: h.status as StoredStatus,
    priority: (h.priority || 'normal') as Priority,
    input: json(h.input, {}),
    output: json(h.output, null),
    error: json(h.error, null),
    usage: json(h.usage, null),
    webhook: json(h.webhook, null),
    metadata: json(h.metadata, {}),
    worker: h.worker || null,
    attempts: Number(h.attempts ?? 0),
    timeoutMs: Number(h.timeout_ms ?? 0),
    deadline: Number(h.deadline ?? 0),
    createdAt: Number(h.created_at),
    startedAt: num(h.started_at),
    finishedAt: num(h.finished_at),
    loadWaitMs: num(h.load_wait_ms),
    promptEvalMs: num(h.prompt_eval_ms),
    evalMs: num(h.eval_ms),
    cancelRequested: h.cancel_requested === '1',
    run: Number(h.run ?? 0),
  };
}

export class JobStore {
  private readonly opts: JobStoreOptions;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    opts: Partial<JobStoreOptions> = {},
  ) {
    this.opts = { ...JOB_STORE_DEFAULTS, ...opts };
    redis.defineCommand('fabricTransition', { numberOfKeys: 2, lua: TRANSITION_LUA });
  }

  /** Writes a new record in status `queued` with its first event. */
  async create(job: NewJob): Promise<void> {
    const key = this.keys.job(job.id);
    const events = this.keys.jobEvents(job.id);
    await this.redis
      .multi()
      .del(key, events, this.keys.jobDeliveries(job.id))
      .hset(
        key,
        ...encodeFields({
          id: job.id,
          tenant: job.tenant,
          model: job.model,
          task: job.task,
          status: 'queued',
          priority: job.priority,
          input: job.input,
          webhook: job.webhook,
          metadata: job.metadata,
          attempts: 0,
          timeout_ms: job.timeoutMs,
          deadline: job.deadline,
          created_at: job.createdAt,
        }),
      )
      .xadd(events, 'MAXLEN', '~', this.opts.eventsMaxLen, '*', 'type', 'status', 'data', JSON.stringify({ status: 'queued' }))
      .exec();
  }

  async get(id: string): Promise<JobRecord | null> {
    return decodeRecord(await this.redis.hgetall(this.keys.job(id)));
  }

  /** Moves a job to `to` if it is currently in one of `from`; writes `fields` with it. */
  async transition(
    id: string,
    to: StoredStatus,
    from: readonly StoredStatus[],
    fields: Fields = {},
    event: Record<string, unknown> = {},
  ): Promise<TransitionResult> {
    const ttl = TERMINAL_STATUSES.has(to) ? this.opts.resultTtlSec : 0;
    const redis = this.redis as unknown as { fabricTransition: (...a: unknown[]) => Promise<unknown> };
    const res = (await redis.fabricTransition(
      this.keys.job(id),
      this.keys.jobEvents(id),
      to,
      from.join(','),
      JSON.stringify({ status: to, ...event }),
      this.keys.jobEventsChannel(id),
      ttl,
      this.opts.eventsMaxLen,
      ...encodeFields(fields),
    )) as [number, string?];
    if (res[0] === 1) return { ok: true, eventId: res[1] as string };
    return { ok: false, current: res[0] === 0 ? (res[1] as StoredStatus) : null };
  }

  /** Writes fields that are not a status change (e.g. a cancel request flag). */
  async setFields(id: string, fields: Fields): Promise<void> {
    await this.redis.hset(this.keys.job(id), ...encodeFields(fields));
  }

  /** Appends a non-status event (a token, load progress) and notifies listeners. */
  async appendEvent(id: string, type: 'token' | 'progress', data: string): Promise<void> {
    const events = this.keys.jobEvents(id);
    const eventId = (await this.redis.xadd(events, 'MAXLEN', '~', this.opts.eventsMaxLen, '*', 'type', type, 'data', data)) as string;
    await this.redis.publish(this.keys.jobEventsChannel(id), `${eventId} ${type}`);
  }

  /** Events after `afterId` (exclusive), oldest first. */
  async readEvents(id: string, afterId = '-', count = 1000): Promise<JobEvent[]> {
    const start = afterId === '-' ? '-' : `(${afterId}`;
    const rows = await this.redis.xrange(this.keys.jobEvents(id), start, '+', 'COUNT', count);
    return rows.map(([eventId, kv]) => {
      const m: Record<string, string> = {};
      for (let i = 0; i < kv.length; i += 2) m[kv[i] as string] = kv[i + 1] as string;
      return { id: eventId, type: m.type as JobEvent['type'], data: m.data ?? '' };
    });
  }
}
