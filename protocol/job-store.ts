/**
 * The job record (one Redis hash per job) and its event stream. Every change is one Lua
 * script (job-store-scripts.ts): a transition, its event and its notification are atomic, a
 * terminal status is never overwritten by a late writer (a cancel racing a completion, say),
 * and each costs one round trip.
 */
import type { Redis } from 'ioredis';
import type { Keys } from './keys.js';
import type { JobRecord, Priority, Task } from './job.js';
import type { StoredStatus } from './statuses.js';
import { TERMINAL_STATUSES } from './statuses.js';
import { TenantLedger, USAGE_TTL_SEC, admitArgs, utcDay, type JobMove } from './tenant-ledger.js';
import type { PriorityClass } from './tenant-fairness.js';
import type { TenantLimit } from './tenant-limits.js';
import { APPEND_LUA, CLEAR_DEADLINES_LUA, CREATE_LUA, TRANSITION_LUA } from './job-store-scripts.js';

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

/** Where the model's queue keeps its backlog, and how much it may hold. */
export interface BacklogGuard {
  waitKey: string;
  prioritizedKey: string;
  /** The model's admissions in flight (`keys.modelAdmissions(model)`); remove the job once added to BullMQ. */
  admissionsKey: string;
  maxBacklog: number;
  /** The BullMQ priority of a job admitted already (no `Admission` given to create). */
  priority?: number;
}

/** The tenant's admission, made with the create: its priority class and limits. */
export interface Admission {
  cls: PriorityClass;
  limit: TenantLimit;
}

/** `priority` is the one the admission gave (absent when the caller gave it). */
export type CreateResult =
  | { created: true; position: number; depth: number; priority?: number }
  | { created: false; backlog: number }
  | { created: false; waiting: number };

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
  /** Follows each status change into the tenants' waiting/running counts and usage. */
  readonly ledger: TenantLedger;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    opts: Partial<JobStoreOptions> = {},
  ) {
    this.opts = { ...JOB_STORE_DEFAULTS, ...opts };
    this.ledger = new TenantLedger(redis, keys);
    redis.defineCommand('fabricCreate', { numberOfKeys: 8, lua: CREATE_LUA });
    redis.defineCommand('fabricClearDeadlines', { numberOfKeys: 1, lua: CLEAR_DEADLINES_LUA });
    redis.defineCommand('fabricTransition', { numberOfKeys: 6, lua: TRANSITION_LUA });
    redis.defineCommand('fabricAppend', { numberOfKeys: 1, lua: APPEND_LUA });
  }

  /**
   * Admits the job for its tenant (waiting cap, fair-share priority) and writes its record in
   * status `queued` with its first event, unless the model's backlog (the BullMQ keys in
   * `backlog`) or the tenant's waiting cap is full; one round trip. Returns where the job will
   * stand in its queue and the BullMQ priority to add it with.
   */
  async create(job: NewJob, backlog: BacklogGuard, admission?: Admission): Promise<CreateResult> {
    const res = (await this.scripts().fabricCreate(
      this.keys.job(job.id),
      this.keys.jobEvents(job.id),
      backlog.waitKey,
      backlog.prioritizedKey,
      this.keys.deadlines(),
      backlog.admissionsKey,
      this.keys.tenantJobs(job.tenant),
      this.keys.fairClock(job.model, admission?.cls ?? 'normal'),
      backlog.maxBacklog,
      this.opts.eventsMaxLen,
      JSON.stringify({ status: 'queued' }),
      job.id,
      job.deadline,
      ...(admission ? admitArgs(job.tenant, admission.cls, admission.limit, true) : ['', 1, 0, 0, 0, '0']),
      admission ? '1' : '0',
      backlog.priority ?? 0,
      Date.now(),
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
        // Whether the job counts among its tenant's waiting jobs (batch lines do not).
        counts_waiting: admission?.cls === 'batch' ? 0 : 1,
      }),
    )) as number[];
    if (res[0] === 1) return admission ? { created: true, position: res[1]!, depth: res[2]!, priority: res[3]! } : { created: true, position: res[1]!, depth: res[2]! };
    if (res[0] === 2) return { created: false, waiting: res[1]! };
    return { created: false, backlog: res[1]! };
  }

  private scripts(): Record<'fabricCreate' | 'fabricTransition' | 'fabricAppend' | 'fabricClearDeadlines', (...args: unknown[]) => Promise<unknown>> {
    return this.redis as unknown as Record<'fabricCreate' | 'fabricTransition' | 'fabricAppend' | 'fabricClearDeadlines', (...args: unknown[]) => Promise<unknown>>;
  }

  /** Ids of jobs whose expiry deadline is at or before `now`, soonest first (at most `limit`). */
  async dueDeadlines(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.deadlines(), '-inf', now, 'LIMIT', 0, limit);
  }

  /** Sets (or moves) a queued job's expiry deadline in the sweeper's index; 0 removes it. */
  async setDeadline(id: string, deadline: number): Promise<void> {
    if (deadline > 0) await this.redis.zadd(this.keys.deadlines(), deadline, id);
    else await this.redis.zrem(this.keys.deadlines(), id);
  }

  /** Removes swept ids from the index unless their deadline moved past `now` meanwhile. */
  async clearDeadlines(ids: readonly string[], now: number): Promise<void> {
    if (ids.length > 0) await this.scripts().fabricClearDeadlines(this.keys.deadlines(), now, ...ids);
  }

  async get(id: string): Promise<JobRecord | null> {
    return decodeRecord(await this.redis.hgetall(this.keys.job(id)));
  }

  /**
   * Moves a job to `to` if it is currently in one of `from`; writes `fields` with it.
   * `pendingText` is generated text not yet appended: it goes in as a token event first.
   * `tenant`, when the caller knows the job's owner, lets the same script move the tenant's
   * waiting/running counts (one round trip); otherwise the ledger moves them after.
   */
  async transition(
    id: string,
    to: StoredStatus,
    from: readonly StoredStatus[],
    fields: Fields = {},
    event: Record<string, unknown> = {},
    pendingText = '',
    tenant = '',
  ): Promise<TransitionResult> {
    const ttl = TERMINAL_STATUSES.has(to) ? this.opts.resultTtlSec : 0;
    const finishedAt = typeof fields.finished_at === 'number' ? fields.finished_at : null;
    const usage = (fields.usage as JobMove['usage']) ?? null;
    const res = (await this.scripts().fabricTransition(
      this.keys.job(id),
      this.keys.jobEvents(id),
      this.keys.tenantJobs(tenant),
      this.keys.tenantUsage(tenant, utcDay(finishedAt ?? Date.now())),
      this.keys.tenantUsage(tenant, 'total'),
      this.keys.fleetUsage(),
      to,
      from.join(','),
      JSON.stringify({ status: to, ...event }),
      this.keys.eventsBus(),
      ttl,
      this.opts.eventsMaxLen,
      id,
      pendingText,
      tenant,
      Math.max(0, Math.round(usage?.prompt_tokens ?? 0)),
      Math.max(0, Math.round(usage?.completion_tokens ?? 0)),
      finishedAt ?? 0,
      USAGE_TTL_SEC,
      ...encodeFields(fields),
    )) as [number, string?, string?, string?, string?, string?, number?];
    if (res[0] === 1) {
      await this.ledger.move({
        tenant: res[3] ?? '',
        model: res[4] ?? '',
        from: res[2] as StoredStatus,
        to,
        startedAt: res[5] ? Number(res[5]) : null,
        finishedAt,
        usage,
        counted: res[6] === 1,
      });
      return { ok: true, eventId: res[1] as string };
    }
    return { ok: false, current: res[0] === 0 ? (res[1] as StoredStatus) : null };
  }

  /** Writes fields that are not a status change (e.g. a cancel request flag). */
  async setFields(id: string, fields: Fields): Promise<void> {
    await this.redis.hset(this.keys.job(id), ...encodeFields(fields));
  }

  /** Appends a non-status event (a token, load progress) and notifies listeners. */
  async appendEvent(id: string, type: 'token' | 'progress', data: string): Promise<void> {
    await this.scripts().fabricAppend(this.keys.jobEvents(id), type, data, this.opts.eventsMaxLen, this.keys.eventsBus(), id);
  }

  /** Events after `afterId` (exclusive), oldest first. */
  /** The id of the job's newest event, or null when it has none. */
  async lastEventId(id: string): Promise<string | null> {
    const rows = await this.redis.xrevrange(this.keys.jobEvents(id), '+', '-', 'COUNT', 1);
    return rows[0]?.[0] ?? null;
  }

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
