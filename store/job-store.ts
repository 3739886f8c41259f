/**
 * The job record (one Redis hash per job) and its event stream. Every change is one Lua
 * script (store/scripts/job-*.lua): a transition, its event and its notification are atomic, a
 * terminal status is never overwritten by a late writer (a cancel racing a completion, say),
 * and each costs one round trip.
 */
import type { Keys } from '../protocol/keys.ts';
import type { RedisClient } from './redis-client.ts';
import { jobTag } from '../protocol/slot-tags.ts';
import type { JobRecord, Priority, Task } from '../protocol/job.ts';
import type { StoredStatus } from '../protocol/statuses.ts';
import { TERMINAL_STATUSES } from '../protocol/statuses.ts';
import { TenantLedger, USAGE_TTL_SEC, admitArgs, utcDay, type JobMove } from './tenant-ledger.ts';
import { Scripts } from './scripts/registry.ts';
import type { PriorityClass } from '../protocol/tenant-fairness.ts';
import type { TenantLimit } from '../protocol/tenant-limits.ts';

export interface JobStoreOptions {
  /** Seconds a finished job (and its events) is kept. */
  resultTtlSec: number;
  eventsMaxLen: number;
}

export const JOB_STORE_DEFAULTS: JobStoreOptions = { resultTtlSec: 3600, eventsMaxLen: 10_000 };

export type TransitionResult = { ok: true; eventId: string } | { ok: false; current: StoredStatus | null };

export interface JobEvent {
  id: string;
  /** `delta`: a canonical non-text event (protocol/conversation.ts) as JSON. */
  type: 'status' | 'token' | 'progress' | 'delta';
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

/** The tenant's admission of the job: its priority class and limits. */
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
  /** Tags this store has put in `keys.deadlineTags()` (each once per process). */
  private readonly deadlineTags = new Set<string>();
  private readonly scripts: Scripts;

  private readonly redis: RedisClient;
  private readonly keys: Keys;
  constructor(
    redis: RedisClient,
    keys: Keys,
    opts: Partial<JobStoreOptions> = {},
  ) {
    this.redis = redis;
    this.keys = keys;
    this.opts = { ...JOB_STORE_DEFAULTS, ...opts };
    this.ledger = new TenantLedger(redis, keys);
    this.scripts = Scripts.for(redis);
  }

  /**
   * Admits the job for its tenant (waiting cap, fair-share priority) and writes its record in
   * status `queued` with its first event, unless the model's backlog (the BullMQ keys in
   * `backlog`) or the tenant's waiting cap is full. Returns where the job will stand in its queue
   * and the BullMQ priority to add it with. One script on one server; on a Redis Cluster, where
   * the tenant's keys live in another slot, the admission runs first as scripts of its own and is
   * given back if the job is not created.
   */
  async create(job: NewJob, backlog: BacklogGuard, admission?: Admission): Promise<CreateResult> {
    if (!admission || this.ledger.oneServer) return this.createRecord(job, backlog, admission);
    const admitted = await this.ledger.admit({ tenant: job.tenant, model: job.model, cls: admission.cls, limit: admission.limit, prioritizedKey: backlog.prioritizedKey });
    if (!admitted.admitted) return { created: false, waiting: admitted.waiting };
    const giveBack = () => this.ledger.release(job.tenant, admission.cls).catch(() => undefined);
    const res = await this.createRecord(job, backlog, admission, admitted.priority).catch(async (err: unknown) => {
      await giveBack();
      throw err;
    });
    if (!res.created) await giveBack();
    return res;
  }

  /** The create script: admits the job in it too unless `admittedPriority` says it was already. */
  private async createRecord(job: NewJob, backlog: BacklogGuard, admission: Admission | undefined, admittedPriority?: number): Promise<CreateResult> {
    // Sent with the script, not after it: no extra round trip (a tag indexed for a refused job is harmless).
    if (job.deadline > 0) void this.indexDeadlineTag(job.id);
    const admitHere = admission !== undefined && admittedPriority === undefined;
    const res = await this.scripts.jobCreate({
      keys: {
        job: this.keys.job(job.id),
        events: this.keys.jobEvents(job.id),
        wait: backlog.waitKey,
        prioritized: backlog.prioritizedKey,
        deadlines: this.keys.deadlines(jobTag(job.id)),
        admissions: backlog.admissionsKey,
        // Without an admission here the tenant's hash is not read: a key of the job's slot stands in.
        tenantJobs: admitHere ? this.keys.tenantJobs(job.tenant) : this.keys.job(job.id),
        fairClock: this.keys.fairClock(job.model, admission?.cls ?? 'normal'),
      },
      maxBacklog: backlog.maxBacklog,
      eventsMaxLen: this.opts.eventsMaxLen,
      firstEvent: JSON.stringify({ status: 'queued' }),
      jobId: job.id,
      deadline: job.deadline,
      admission: admitHere ? admitArgs(job.tenant, admission.cls, admission.limit, true) : null,
      priority: admittedPriority ?? backlog.priority ?? 0,
      now: Date.now(),
      fields: encodeFields({
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
    });
    if (res.created && !admission) return { created: true, position: res.position, depth: res.depth };
    return res;
  }

  /** Records that `id`'s tag has a deadlines zset (once per tag and process; failures retry next time). */
  private indexDeadlineTag(id: string): Promise<void> {
    const tag = jobTag(id);
    if (this.deadlineTags.has(tag)) return Promise.resolve();
    this.deadlineTags.add(tag);
    return this.redis.sadd(this.keys.deadlineTags(), tag).then(
      () => undefined,
      () => void this.deadlineTags.delete(tag),
    );
  }

  /**
   * Ids of jobs whose expiry deadline is at or before `now`, soonest first (at most `limit`),
   * from every tag's deadlines zset.
   */
  async dueDeadlines(now: number, limit: number): Promise<string[]> {
    const tags = await this.redis.smembers(this.keys.deadlineTags());
    const rows = await Promise.all(tags.map((tag) => this.redis.zrangebyscore(this.keys.deadlines(tag), '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)));
    const due: { id: string; at: number }[] = [];
    for (const r of rows) for (let i = 0; i < r.length; i += 2) due.push({ id: r[i]!, at: Number(r[i + 1]) });
    return due.sort((a, b) => a.at - b.at).slice(0, limit).map((d) => d.id);
  }

  /** Sets (or moves) a queued job's expiry deadline in the sweeper's index; 0 removes it. */
  async setDeadline(id: string, deadline: number): Promise<void> {
    const key = this.keys.deadlines(jobTag(id));
    if (deadline > 0) await Promise.all([this.redis.zadd(key, deadline, id), this.indexDeadlineTag(id)]);
    else await this.redis.zrem(key, id);
  }

  /** Removes swept ids from the index unless their deadline moved past `now` meanwhile. */
  async clearDeadlines(ids: readonly string[], now: number): Promise<void> {
    const byTag = new Map<string, string[]>();
    for (const id of ids) byTag.set(jobTag(id), [...(byTag.get(jobTag(id)) ?? []), id]);
    await Promise.all([...byTag].map(([tag, ids]) => this.scripts.jobClearDeadlines({ deadlines: this.keys.deadlines(tag), now, ids })));
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
    // On a Redis Cluster the tenant's keys live in other slots than the job's: the ledger counts
    // the change after the script there, and keys of the job's slot stand in for them.
    const owner = this.ledger.oneServer ? tenant : '';
    const ledgerKeys = owner
      ? { tenantJobs: this.keys.tenantJobs(owner), dayUsage: this.keys.tenantUsage(owner, utcDay(finishedAt ?? Date.now())), totalUsage: this.keys.tenantUsage(owner, 'total'), fleetUsage: this.keys.fleetUsage() }
      : { tenantJobs: this.keys.job(id), dayUsage: this.keys.job(id), totalUsage: this.keys.job(id), fleetUsage: this.keys.job(id) };
    const res = await this.scripts.jobTransition({
      keys: { job: this.keys.job(id), events: this.keys.jobEvents(id), ...ledgerKeys },
      to,
      from,
      event: JSON.stringify({ status: to, ...event }),
      channel: this.keys.eventsBus(),
      ttlSec: ttl,
      eventsMaxLen: this.opts.eventsMaxLen,
      jobId: id,
      pendingText,
      tenant: owner,
      promptTokens: Math.max(0, Math.round(usage?.prompt_tokens ?? 0)),
      completionTokens: Math.max(0, Math.round(usage?.completion_tokens ?? 0)),
      finishedAt: finishedAt ?? 0,
      dayTtlSec: USAGE_TTL_SEC,
      fields: encodeFields(fields),
    });
    if (!res.applied) return { ok: false, current: res.current as StoredStatus | null };
    await this.ledger.account({ tenant: res.tenant, model: res.model, from: res.previous as StoredStatus, to, startedAt: res.startedAt, finishedAt, usage, counted: res.counted, countsWaiting: res.countsWaiting });
    return { ok: true, eventId: res.eventId };
  }

  /** Writes fields that are not a status change (e.g. a cancel request flag). */
  async setFields(id: string, fields: Fields): Promise<void> {
    await this.redis.hset(this.keys.job(id), ...encodeFields(fields));
  }

  /** Appends a non-status event (a token, load progress) and notifies listeners. */
  async appendEvent(id: string, type: 'token' | 'progress' | 'delta', data: string): Promise<void> {
    await this.scripts.jobAppend({ events: this.keys.jobEvents(id), type, data, eventsMaxLen: this.opts.eventsMaxLen, channel: this.keys.eventsBus(), jobId: id });
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
