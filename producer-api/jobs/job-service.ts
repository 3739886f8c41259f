/**
 * The API's job operations: submit (idempotent, bounded), read (with lazy expiry and the
 * `loading_model` view), cancel, retry and wait. Routes translate HTTP to these calls.
 */
import { applyDerived } from '../../protocol/model-aliases.ts';
import { createHash } from 'node:crypto';
import { checkSubmittable } from './submit-checks.ts';
import { ReplicaAcks } from './replica-acks.ts';
import { type JobError, type JobPayload, type JobRecord, type StatusListener, type SubmitBody, type Task } from '../../protocol/job.ts';
import type { JobStore } from '../../store/job-store.ts';
import type { Keys } from '../../protocol/keys.ts';
import type { Logger } from '../../protocol/logger.ts';
import type { RedisClient } from '../../store/redis-client.ts';
import { newJobId } from '../../protocol/slot-tags.ts';
import { metrics } from '../settings/metrics.ts';
import { priorityBand, priorityClassOf } from '../../protocol/tenant-fairness.ts';
import { tenantLimitError } from '../tenants/limit-error.ts';
import { runningCapOf } from '../../store/tenant-slots.ts';
import { bullJobId, queueKeys } from '../../store/queue-keys.ts';
import { RETRYABLE_STATUSES, isTerminal, visibleStatus, type JobStatus } from '../../protocol/statuses.ts';
import { loadingOn, residentOn, type FleetView } from '../fleet/fleet-view.ts';
import type { ArrivalBatcher } from './arrival-batcher.ts';
import type { EventHub } from './event-hub.ts';
import { followJob, type JobFollow } from './job-follower.ts';
import { HttpError, conflict, notFound, unavailable } from '../http/http-error.ts';
import type { ModelQueues } from './model-queues.ts';
import type { ApiOptions } from '../settings/options.ts';

export interface JobServiceDeps {
  redis: RedisClient;
  keys: Keys;
  store: JobStore;
  queues: ModelQueues;
  fleet: FleetView;
  hub: EventHub;
  arrivals: ArrivalBatcher;
  opts: ApiOptions;
  log: Logger;
  onStatus: StatusListener;
  /** Reason a webhook URL is refused, or null when it may be called. */
  checkWebhookUrl: (url: string) => Promise<string | null>;
}

export interface SubmitResult {
  /** The job as it stands after the wait asked for (as submitted when none). */
  record: JobRecord;
  /** False when an Idempotency-Key matched an earlier submission. */
  created: boolean;
  /** Where a new job stood in its queue when it was accepted. */
  queue?: { position: number; depth: number };
}

/** One submission: who asks, for what, and how long they will wait for the result. */
export interface SubmitRequest {
  readonly tenant: string;
  readonly body: SubmitBody;
  /** Canonical model name. */
  readonly model: string;
  readonly task: Task;
  readonly idempotencyKey?: string | undefined;
  /** Wait up to this long for the job to finish (0: answer at once). */
  readonly waitMs?: number;
  /** Aborts the wait (the caller went away); the job itself stays. */
  readonly signal?: AbortSignal | undefined;
}

export class JobService {
  private readonly replicas: ReplicaAcks;

  private readonly d: JobServiceDeps;
  constructor(d: JobServiceDeps) {
    this.d = d;
    this.replicas = new ReplicaAcks({ redis: d.redis, log: d.log, acks: d.opts.replicaAcks, timeoutMs: d.opts.replicaAckTimeoutMs });
  }

  /**
   * Validated body in, accepted job out; throws HttpError for anything refused. With
   * `waitMs`, resolves once the job finished, the wait ran out or `signal` aborted (the
   * caller went away).
   */
  async submit(asked: SubmitRequest): Promise<SubmitResult> {
    const snap = await this.d.fleet.snapshot();
    // An alias or derived model runs as a job of its base model, with its defaults applied.
    // A model with its own weights wins over an alias of the same name (as /api/tags lists it).
    const derived = snap.catalog.has(asked.model) ? undefined : snap.aliases?.get(asked.model);
    const req: SubmitRequest = derived ? { ...asked, model: derived.from, body: { ...asked.body, model: derived.from, input: applyDerived(derived, asked.task, asked.body.input) } } : asked;
    const { tenant, body, model, task, idempotencyKey, waitMs = 0, signal } = req;
    const { opts, keys, redis } = this.d;
    checkSubmittable(snap, model, task, body);
    if (body.webhook) {
      const reason = await this.d.checkWebhookUrl(body.webhook.url);
      if (reason) throw new HttpError(422, 'webhook_url_refused', `webhook url refused: ${reason}`);
    }
    // The id carries the model's hash tag: its record lives in its queue's cluster slot.
    const id = newJobId(model);
    if (idempotencyKey) {
      const fingerprint = createHash('sha256').update(JSON.stringify(body)).digest('base64url');
      const idemKey = keys.idempotency(tenant, idempotencyKey);
      const claimed = await redis.set(idemKey, `${id} ${fingerprint}`, 'EX', opts.idempotencyTtlSec, 'NX');
      if (!claimed) {
        const [prevId, prevPrint] = ((await redis.get(idemKey)) ?? '').split(' ');
        if (prevPrint !== fingerprint) {
          throw new HttpError(422, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request body');
        }
        const prev = prevId ? await this.waitForRecord(prevId) : null;
        if (prev) return { record: (await this.waitForTerminal(prev.id, waitMs)) ?? prev, created: false };
        throw conflict('idempotency_conflict', 'the job for this Idempotency-Key is still being created or has already been deleted; retry shortly, or use a new key');
      }
      try {
        return await this.enqueue(id, req);
      } catch (err) {
        await redis.del(idemKey);
        throw err;
      }
    }
    return this.enqueue(id, req);
  }

  /** The first submission of a key may still be writing its record; give it a moment. */
  private async waitForRecord(id: string): Promise<JobRecord | null> {
    for (let i = 0; i < 20; i++) {
      const rec = await this.d.store.get(id);
      if (rec) return rec;
      await new Promise((r) => setTimeout(r, 25));
    }
    return null;
  }

  private async enqueue(id: string, req: SubmitRequest): Promise<SubmitResult> {
    const { tenant, body, model, task, waitMs = 0, signal } = req;
    const { opts, store } = this.d;
    const now = Date.now();
    const ttlMs = body.ttl !== undefined ? body.ttl * 1000 : opts.defaultTtlMs;
    const rec = {
      id,
      tenant,
      model,
      task,
      priority: body.priority,
      input: body.input,
      webhook: body.webhook ?? null,
      metadata: body.metadata ?? {},
      timeoutMs: body.timeout !== undefined ? body.timeout * 1000 : opts.defaultTimeoutMs,
      deadline: ttlMs > 0 ? now + ttlMs : 0,
      createdAt: now,
    };
    const q = queueKeys(this.d.keys.bullPrefix, model);
    const cls = priorityClassOf(rec.priority, rec.metadata);
    const limit = opts.tenantLimits.forTenant(tenant);
    const admissionsKey = this.d.keys.modelAdmissions(model);
    const refused = (waiting: number) => {
      metrics.jobsRejected.inc({ model, reason: 'quota' });
      return tenantLimitError('waiting_jobs', `tenant ${tenant} has ${waiting} jobs waiting (limit ${limit.maxWaiting}); retry once some have started`, this.retryAfterSec(waiting));
    };
    const created = await store.create(rec, { waitKey: q.wait, prioritizedKey: q.prioritized, admissionsKey, maxBacklog: opts.maxBacklog }, { cls, limit });
    if (!created.created && 'waiting' in created) throw refused(created.waiting);
    if (!created.created) {
      metrics.jobsRejected.inc({ model, reason: 'backlog' });
      // Admissions in flight may be counted twice for a moment, so the bound is what is known exactly.
      throw unavailable('backlog_full', `model ${model} has its limit of ${opts.maxBacklog} jobs waiting; retry later`, this.retryAfterSec(created.backlog));
    }
    const priority = created.priority!;
    // In place before the job is queued, so even an instant completion is not missed.
    const watch = waitMs > 0 ? this.watch(id, signal) : null;
    try {
      await this.addToQueue({ ...rec, run: 0 }, priority);
      void this.d.redis.zrem(admissionsKey, id).catch(() => undefined);
    } catch (err) {
      void this.d.redis.zrem(admissionsKey, id).catch(() => undefined);
      watch?.stop();
      await store.ledger.release(tenant, cls).catch(() => undefined);
      await this.d.redis.del(this.d.keys.job(id)).catch(() => undefined);
      throw unavailable('queue_unavailable', `could not enqueue: ${(err as Error).message}`, 1);
    }
    await this.replicas.await(id);
    metrics.jobsSubmitted.inc({ model, task });
    void this.wakeSchedulerIfCold(model);
    // Arrival history feeds the scheduler's pre-warm and eviction; losing one is harmless.
    this.d.arrivals.record(model, now);
    const record: JobRecord = { ...rec, status: 'queued', output: null, error: null, usage: null, worker: null, attempts: 0, startedAt: null, finishedAt: null, loadWaitMs: null, promptEvalMs: null, evalMs: null, cancelRequested: false, run: 0 };
    const queue = { position: created.position, depth: created.depth };
    if (!watch) return { record, created: true, queue };
    try {
      return { record: (await this.awaitWatch(watch, id, waitMs)) ?? record, created: true, queue };
    } finally {
      watch.stop();
    }
  }

  /** `priority`: the BullMQ priority from the tenant ledger's admission (class band + fair-share tag). */
  private async addToQueue(r: Pick<JobRecord, 'id' | 'tenant' | 'model' | 'task' | 'input' | 'timeoutMs' | 'deadline' | 'webhook' | 'run'>, priority: number): Promise<void> {
    const q = this.d.opts.queue;
    const runningCap = runningCapOf(this.d.opts.tenantLimits, r.tenant);
    const payload: JobPayload = { id: r.id, tenant: r.tenant, model: r.model, task: r.task, input: r.input, timeoutMs: r.timeoutMs, deadline: r.deadline, run: r.run, webhook: r.webhook, ...(runningCap ? { runningCap } : {}) };
    await this.d.queues.get(r.model).add(r.task, payload, {
      jobId: bullJobId(r.id, r.run),
      priority,
      attempts: q.attempts,
      backoff: { type: 'exponential', delay: q.backoffMs },
      removeOnComplete: { age: q.keepCompletedSec, count: q.keepCompletedCount },
      removeOnFail: { age: q.keepFailedSec },
    });
  }

  /** Wakes the scheduler when a job lands in a queue no replica serves or is loading. */
  private async wakeSchedulerIfCold(model: string): Promise<void> {
    try {
      const snap = await this.d.fleet.snapshot();
      if (residentOn(snap, model).length === 0 && loadingOn(snap, model).length === 0) {
        await this.d.redis.publish(this.d.keys.schedulerWake(), model);
      }
    } catch (err) {
      this.d.log.warn({ err, model }, 'Scheduler wake failed');
    }
  }

  retryAfterSec(backlog: number): number {
    return Math.min(60, Math.max(1, Math.ceil(backlog / 100)));
  }

  /** A tenant's job with the status it shows now; expires it first if its deadline passed. */
  async get(tenant: string, id: string): Promise<{ record: JobRecord; status: JobStatus }> {
    let record = await this.d.store.get(id);
    if (!record || (tenant !== '*' && record.tenant !== tenant)) throw notFound('job_not_found', `job ${id} not found`);
    if (await this.expireIfDue(record, Date.now())) record = (await this.d.store.get(id)) ?? record;
    let loading = false;
    if (record.status === 'queued') {
      const snap = await this.d.fleet.snapshot();
      loading = residentOn(snap, record.model).length === 0 && loadingOn(snap, record.model).length > 0;
    }
    return { record, status: visibleStatus(record.status, loading) };
  }

  /**
   * Expires a queued job whose deadline passed: the record turns `expired` (once, whoever gets
   * there first: a reader, the sweeper or the worker that picks it up), the job leaves its
   * queue, and the status listeners (webhooks) hear of it. Returns whether this call expired it.
   */
  async expireIfDue(record: JobRecord, now: number): Promise<boolean> {
    if (record.status !== 'queued' || record.deadline <= 0 || now <= record.deadline) return false;
    const res = await this.d.store.transition(record.id, 'expired', ['queued'], { finished_at: now }, { reason: 'deadline passed before start' }, '', record.tenant);
    if (!res.ok) return false;
    await this.removeFromQueue(record);
    metrics.jobsFinished.inc({ model: record.model, status: 'expired' });
    await this.d.onStatus(record, 'expired');
    return true;
  }

  /**
   * One pass of the expiry sweeper: expires up to `limit` queued jobs whose deadline passed,
   * soonest first, so a job nobody reads and no worker picks up still ends (and its webhook
   * fires) close to its deadline. Returns how many deadlines were due and how many jobs expired
   * (a due job that already started or ended only leaves the index).
   */
  async sweepExpired(now: number, limit: number): Promise<{ due: number; expired: number }> {
    // Strictly past: a job expires once now > deadline.
    const cutoff = now - 1;
    const ids = await this.d.store.dueDeadlines(cutoff, limit);
    let expired = 0;
    for (const id of ids) {
      const record = await this.d.store.get(id);
      if (record && (await this.expireIfDue(record, now))) expired++;
    }
    await this.d.store.clearDeadlines(ids, cutoff);
    return { due: ids.length, expired };
  }

  async queueInfo(record: JobRecord): Promise<{ position: number | null; depth: number } | undefined> {
    if (record.status !== 'queued') return undefined;
    return this.d.queues.position(record.model, bullJobId(record.id, record.run));
  }

  private async removeFromQueue(record: JobRecord): Promise<boolean> {
    try {
      const job = await this.d.queues.get(record.model).getJob(bullJobId(record.id, record.run));
      if (!job) return true;
      await job.remove();
      return true;
    } catch {
      return false; // Locked by a worker: it will see the record's status and skip the job.
    }
  }

  /**
   * Fails every job still queued for `model` with `error` (the model was deleted) and takes it
   * out of the queue; jobs already running are left to finish. Returns how many failed.
   */
  async failQueued(model: string, error: JobError): Promise<number> {
    const jobs = await this.d.queues.get(model).getJobs(['waiting', 'prioritized', 'delayed'], 0, -1);
    let failed = 0;
    for (const job of jobs) {
      const p = job.data;
      const res = await this.d.store.transition(p.id, 'failed', ['queued'], { finished_at: Date.now(), error }, {}, '', p.tenant);
      // A job a worker holds stays (its lock refuses the removal); the worker skips it, no longer queued.
      await job.remove().catch(() => undefined);
      if (!res.ok) continue;
      failed++;
      metrics.jobsFinished.inc({ model, status: 'failed' });
      await this.d.onStatus(p, 'failed');
    }
    return failed;
  }

  /** Cancels a queued job at once, or asks the worker running it to abort. */
  async cancel(tenant: string, id: string): Promise<{ record: JobRecord; status: JobStatus }> {
    const { record } = await this.get(tenant, id);
    if (isTerminal(record.status)) throw conflict('job_finished', `job ${id} already ${record.status}`);
    const res = await this.d.store.transition(id, 'canceled', ['queued'], { finished_at: Date.now() }, {}, '', record.tenant);
    if (res.ok) {
      await this.removeFromQueue(record);
      metrics.jobsFinished.inc({ model: record.model, status: 'canceled' });
      await this.d.onStatus(record, 'canceled');
    } else if (res.current === 'running') {
      await this.d.store.setFields(id, { cancel_requested: 1 });
      await this.d.redis.publish(this.d.keys.cancelChannel(), id);
      const after = await this.waitForTerminal(id, 5_000);
      // No worker confirmed the abort (it may have died): cancel here. A late completion
      // cannot overwrite it, and a stalled re-run will not start a canceled job.
      if (after?.status === 'running') {
        const forced = await this.d.store.transition(id, 'canceled', ['running'], { finished_at: Date.now() }, { reason: 'no worker confirmed the abort' }, '', record.tenant);
        if (forced.ok) {
          metrics.jobsFinished.inc({ model: record.model, status: 'canceled' });
          await this.d.onStatus(record, 'canceled');
        }
      }
    }
    return this.get(tenant, id);
  }

  /** Runs a failed, timed-out, expired or canceled job again under the same id. */
  async retry(tenant: string, id: string): Promise<{ record: JobRecord; status: JobStatus }> {
    const { record } = await this.get(tenant, id);
    if (!RETRYABLE_STATUSES.has(record.status)) {
      throw conflict('job_not_retryable', `job ${id} is ${record.status}; only failed, timed_out, expired or canceled jobs can be retried`);
    }
    const run = record.run + 1;
    const ttlMs = record.deadline > 0 ? record.deadline - record.createdAt : 0;
    const deadline = ttlMs > 0 ? Date.now() + ttlMs : 0;
    const res = await this.d.store.transition(id, 'queued', [...RETRYABLE_STATUSES].filter((s) => s !== 'loading_model') as JobRecord['status'][], {
      run, deadline, output: null, error: null, usage: null, worker: null, started_at: null, finished_at: null, load_wait_ms: null, cancel_requested: 0,
    }, { retry: true, run }, '', record.tenant);
    if (!res.ok) throw conflict('job_not_retryable', `job ${id} changed to ${res.current}`);
    await this.d.store.setDeadline(id, deadline);
    const q = queueKeys(this.d.keys.bullPrefix, record.model);
    const cls = priorityClassOf(record.priority, record.metadata);
    const admitted = await this.d.store.ledger.admit({ tenant: record.tenant, model: record.model, cls, limit: this.d.opts.tenantLimits.forTenant(record.tenant), prioritizedKey: q.prioritized, counted: false });
    await this.addToQueue({ ...record, run, deadline }, admitted.admitted ? admitted.priority : priorityBand(cls).base);
    metrics.jobsSubmitted.inc({ model: record.model, task: record.task });
    void this.wakeSchedulerIfCold(record.model);
    return this.get(tenant, id);
  }

  /** Resolves with the record once it is terminal or `ms` passed, whichever is first. */
  async waitForTerminal(id: string, ms: number): Promise<JobRecord | null> {
    if (ms <= 0) return this.d.store.get(id);
    const watch = this.watch(id);
    try {
      const now = await this.d.store.get(id);
      if (!now || isTerminal(now.status)) return now;
      return await this.awaitWatch(watch, id, ms);
    } finally {
      watch.stop();
    }
  }

  /** Watches for the job's end only (no stream reads); in place before anything that could end it. */
  private watch(id: string, signal?: AbortSignal): JobFollow {
    return followJob(this.d, id, { signal });
  }

  /** Waits up to `ms` for the watched job's end, then reads its record. */
  private async awaitWatch(watch: JobFollow, id: string, ms: number): Promise<JobRecord | null> {
    await watch.until(ms);
    return this.d.store.get(id);
  }
}
