/**
 * Drives batches: validates the input file, then keeps a window of its lines queued as
 * lowest-priority jobs, collects each finished job's result into the output or error list,
 * and ends the batch (completed, expired, cancelled) by turning those lists into files.
 *
 * Every API instance runs one; a batch is driven by whichever instance holds its lease, and
 * all progress (cursor, pending lines, counts) lives in Redis, so another instance picks a
 * batch up where a stopped one left it. A line is submitted with an idempotency key derived
 * from the batch and line, so a resubmission after a crash finds the same job, and its
 * result is written once (BatchStore.collect).
 */
import { randomUUID } from 'node:crypto';
import { crossSlotPipeline, type RedisClient } from '../../store/redis-client.ts';
import { Lease } from '../../store/lease.ts';
import type { Keys } from '../../protocol/keys.ts';
import type { Logger } from '../../protocol/logger.ts';
import { isTerminal, type JobStatus } from '../../protocol/statuses.ts';
import type { FleetView } from '../fleet/fleet-view.ts';
import { HttpError } from '../http/http-error.ts';
import { submitOpenAiJob, cancelQuietly, type BridgeDeps } from '../openai/job-bridge.ts';
import type { OpenAiEndpoint } from '../openai/requests.ts';
import type { BatchBudget } from './batch-budget.ts';
import type { BatchKeys } from './batch-keys.ts';
import { customIdOf, parseLine, resultLine, stoppedLine } from './batch-lines.ts';
import { isBatchTerminal, type BatchLineError, type BatchRecord, type BatchStore, type PendingLine } from './batch-store.ts';
import { newFileId, type FileStore } from './file-store.ts';
import type { BatchOptions } from './options.ts';

export interface BatchRunnerDeps {
  redis: RedisClient;
  keys: Keys;
  bk: BatchKeys;
  files: FileStore;
  batches: BatchStore;
  bridge: BridgeDeps;
  fleet: FleetView;
  /** Holds back a batch whose tenant used its daily token budget. */
  budget: BatchBudget;
  /** Told when a batch reaches a terminal status (webhooks); must not throw. */
  onFinished: (b: BatchRecord) => Promise<void>;
  log: Logger;
}

type Lifecycle = 'idle' | 'running' | 'stopped';

/**
 * What the instance driving a batch keeps in memory: the pending lines (Redis has the same,
 * for whoever continues after it; the lease makes this instance the only writer meanwhile),
 * job ids announced finished on the events bus, and those subscriptions.
 */
interface Drive {
  pending: Map<number, PendingLine> | null;
  announced: Set<string>;
  listeners: Map<string, () => void>;
  wake: () => void;
}
const SLICE = 1000;
/** Idempotency key of a batch line: a resubmission after a crash finds the same job. */
const lineKey = (batchId: string, line: number) => `${batchId}:${line}`;


export class BatchRunner {
  private state: Lifecycle = 'idle';
  private timer: NodeJS.Timeout | null = null;
  private readonly owner = randomUUID();
  private readonly driving = new Map<string, { wake: () => void; done: Promise<void> }>();

  private readonly d: BatchRunnerDeps;
  private readonly o: BatchOptions;
  constructor(
    d: BatchRunnerDeps,
    o: BatchOptions,
  ) {
    this.d = d;
    this.o = o;
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.timer = setInterval(() => void this.claim(), this.o.tickMs);
    this.timer.unref();
    void this.claim();
  }

  /** Starts driving a batch at once when this instance can (a new batch, a cancel). */
  poke(id: string): void {
    const running = this.driving.get(id);
    if (running) running.wake();
    else if (this.state === 'running') void this.claim();
  }

  /** Claims every active batch no live instance drives. */
  private async claim(): Promise<void> {
    try {
      for (const id of await this.d.batches.activeIds()) {
        if (this.state !== 'running' || this.driving.has(id)) continue;
        const lease = new Lease(this.d.redis, this.d.bk.batchLease(id), this.owner);
        if (await lease.tryAcquire(this.o.leaseMs)) this.drive(id, lease);
      }
    } catch (err) {
      this.d.log.warn({ err }, 'Batch claim failed');
    }
  }

  private drive(id: string, lease: Lease): void {
    let wake: () => void = () => undefined;
    const slot = { wake: () => wake(), done: Promise.resolve() };
    this.driving.set(id, slot);
    const ctx: Drive = { pending: null, announced: new Set(), listeners: new Map(), wake: () => wake() };
    slot.done = (async () => {
      let lastFull = 0;
      try {
        for (;;) {
          if (this.state !== 'running') return;
          if (!(await lease.renew(this.o.leaseMs))) return; // another instance holds it now
          const full = Date.now() - lastFull >= this.o.tickMs;
          if (full) lastFull = Date.now();
          const more = await this.step(id, ctx, full);
          if (!more) return;
          await new Promise<void>((r) => {
            wake = r;
            if (ctx.announced.size > 0) r();
            setTimeout(r, this.o.tickMs).unref();
          });
        }
      } catch (err) {
        this.d.log.error({ err, batchId: id }, 'Batch step failed; another tick retries it');
      } finally {
        for (const stop of ctx.listeners.values()) stop();
        this.driving.delete(id);
        this.d.budget.forget(id);
        await lease.release().catch(() => undefined);
      }
    })();
  }

  /** One step of a batch; false once it needs no more driving. */
  private async step(id: string, ctx: Drive, full: boolean): Promise<boolean> {
    const b = await this.d.batches.read(id);
    if (!b || isBatchTerminal(b.status)) {
      await this.d.batches.retire(id, b?.inputFileId ?? '');
      return false;
    }
    if (b.status === 'validating') return this.validate(b);
    const stopping: 'expired' | 'cancelled' | null = b.status === 'cancelling' ? 'cancelled' : b.ending === 'expired' || Date.now() >= b.windowEndsAt ? 'expired' : null;
    if (b.status === 'in_progress' && stopping === 'expired' && b.ending !== 'expired') await this.d.batches.setFields(id, { ending: 'expired' });
    if (b.status !== 'finalizing') {
      const pending = (ctx.pending ??= await this.d.batches.pending(id));
      await this.collect(b, ctx, full, stopping);
      if (stopping) {
        await Promise.all([...pending.values()].map((p) => cancelQuietly(this.d.bridge, p.job)));
        await this.collect(b, ctx, true, stopping);
        if (pending.size > 0) return true; // running jobs still aborting
        await this.writeOffRest(b, stopping);
        await this.d.batches.transition(id, 'finalizing', ['in_progress', 'cancelling'], { ending: stopping });
      } else {
        const more = await this.refill(b, ctx);
        if (more || pending.size > 0) return true;
        await this.d.batches.transition(id, 'finalizing', ['in_progress']);
      }
    }
    await this.finalize(id);
    return false;
  }

  private async validate(b: BatchRecord): Promise<boolean> {
    const file = await this.d.files.get(b.tenant, b.inputFileId).catch(() => null);
    const errors: BatchLineError[] = [];
    let lines = 0;
    if (!file) errors.push({ code: 'file_not_found', message: `the input file ${b.inputFileId} no longer exists`, param: 'input_file_id', line: null });
    else {
      const catalog = (await this.d.fleet.snapshot(0)).catalog;
      const seen = new Set<string>();
      for (let start = 0; start < file.lines; start += SLICE) {
        const slice = await this.d.files.lines(file.id, start, SLICE);
        for (const [i, raw] of slice.entries()) {
          const parsed = parseLine(raw, start + i + 1, b.endpoint as OpenAiEndpoint, (m) => catalog.has(m), seen);
          if ('error' in parsed && errors.length < this.o.maxReportedErrors) errors.push(parsed.error);
        }
        lines += slice.length;
      }
    }
    if (errors.length > 0) {
      if (await this.d.batches.transition(b.id, 'failed', ['validating'], { errors: JSON.stringify(errors), total: lines })) await this.end(b.id);
      return false;
    }
    await this.d.batches.transition(b.id, 'in_progress', ['validating'], { total: lines, cursor: 0 });
    return true;
  }

  /** Collects the results of pending lines whose jobs ended (announced ones, or all on a full pass). */
  private async collect(b: BatchRecord, ctx: Drive, full: boolean, stopping: 'expired' | 'cancelled' | null): Promise<void> {
    const { announced, listeners } = ctx;
    const pending = ctx.pending!;
    let candidates = [...pending].filter(([, p]) => announced.has(p.job));
    if (full) {
      const pipe = crossSlotPipeline(this.d.redis);
      for (const [, p] of pending) pipe.hget(this.d.keys.job(p.job), 'status');
      const statuses = ((await pipe.exec()) ?? []).map(([, s]) => s as string | null);
      candidates = [...pending].filter((_, i) => statuses[i] === null || isTerminal(statuses[i] as JobStatus));
    }
    for (const [, p] of candidates) announced.delete(p.job);
    await Promise.all(
      candidates.map(async ([line, p]) => {
        const rec = await this.d.bridge.store.get(p.job);
        const stoppedByUs = stopping && rec?.status === 'canceled';
        const out = stoppedByUs ? { ok: false, text: stoppedLine(p.customId, stopping, p.job) } : resultLine(p.customId, rec, p.encoding, p.job);
        if (await this.d.batches.collect(b.id, line, out.text, out.ok)) await this.forgetJob(b, line, p.job);
        pending.delete(line);
        listeners.get(p.job)?.();
        listeners.delete(p.job);
      }),
    );
  }

  /** The line's result is in the batch now: its job record, events and idempotency key may go. */
  private async forgetJob(b: BatchRecord, line: number, jobId: string): Promise<void> {
    const keys = [this.d.keys.job(jobId), this.d.keys.jobEvents(jobId), this.d.keys.idempotency(b.tenant, lineKey(b.id, line))];
    const pipe = crossSlotPipeline(this.d.redis);
    for (const k of keys) {
      if (this.o.lineJobTtlMs === 0) pipe.del(k);
      else pipe.pexpire(k, this.o.lineJobTtlMs);
    }
    await pipe.exec();
  }

  /** Submits lines until the window is full; false once every line has been submitted. */
  private async refill(b: BatchRecord, ctx: Drive): Promise<boolean> {
    const { listeners, announced, wake } = ctx;
    let cursor = b.cursor;
    const room = this.o.windowLines - ctx.pending!.size;
    if (cursor >= b.total) return false;
    if (room <= 0 || (await this.d.budget.holds(b))) return true;
    const raws = await this.d.files.lines(b.inputFileId, cursor, Math.min(room, SLICE));
    const catalog = (await this.d.fleet.snapshot()).catalog;
    const submitted = new Map<number, PendingLine>();
    let blocked = false;
    // Submitted in order, a few at a time; the cursor only moves past a contiguous prefix.
    for (let i = 0; i < raws.length && !blocked; i += this.o.submitConcurrency) {
      const group = raws.slice(i, i + this.o.submitConcurrency);
      const results = await Promise.all(
        group.map(async (raw, j) => {
          const line = cursor + j;
          const parsed = parseLine(raw, line + 1, b.endpoint as OpenAiEndpoint, (m) => catalog.has(m), new Set());
          if ('error' in parsed) return { line, error: parsed.error };
          try {
            const { record } = await submitOpenAiJob(this.d.bridge, b.tenant, parsed.job, { priority: 'low', metadata: { batch_id: b.id, custom_id: parsed.customId }, idempotencyKey: lineKey(b.id, line) });
            return { line, pending: { job: record.id, customId: parsed.customId, encoding: parsed.job.encodingFormat } satisfies PendingLine };
          } catch (err) {
            if (err instanceof HttpError && err.status === 503) return { line, blocked: true };
            if (err instanceof HttpError && err.status < 500) return { line, error: { code: err.code, message: err.message, param: null, line: line + 1 } };
            throw err;
          }
        }),
      );
      const errorLines: string[] = [];
      for (const r of results) {
        if (blocked || r.blocked) {
          blocked = true; // backlog full: the rest waits for the next step, in order
          continue;
        }
        if (r.pending) {
          submitted.set(r.line, r.pending);
          const job = r.pending.job;
          listeners.set(job, this.d.bridge.hub.listen(job, (n) => {
            if (n.type === 'status' && n.status && isTerminal(n.status as JobStatus)) {
              announced.add(job);
              wake();
            }
          }));
        } else if (r.error) {
          // A model gone since validation: the line fails on its own, the batch goes on.
          const body = { error: { message: r.error.message, type: 'invalid_request_error', param: null, code: r.error.code } };
          errorLines.push(JSON.stringify({ id: null, custom_id: customIdOf(raws[r.line - b.cursor]!), response: { status_code: 404, request_id: null, body }, error: null }));
        }
        cursor = r.line + 1;
      }
      await this.d.batches.markSubmitted(b.id, cursor, submitted, errorLines);
      for (const [l, p] of submitted) ctx.pending!.set(l, p);
      submitted.clear();
    }
    return cursor < b.total;
  }

  /** Error lines for the lines never submitted, as the batch stopped. */
  private async writeOffRest(b: BatchRecord, why: 'expired' | 'cancelled'): Promise<void> {
    const now = await this.d.batches.read(b.id);
    for (let cursor = now?.cursor ?? b.total; cursor < b.total; ) {
      const raws = await this.d.files.lines(b.inputFileId, cursor, SLICE);
      if (raws.length === 0) break;
      await this.d.batches.writeOff(b.id, cursor, raws.map((raw) => stoppedLine(customIdOf(raw), why)));
      cursor += raws.length;
    }
  }

  /** Output and error lists become files; the batch takes its final status. Safe to repeat. */
  private async finalize(id: string): Promise<void> {
    const b = await this.d.batches.read(id);
    if (!b || b.status !== 'finalizing') return;
    const files = [
      { bytes: b.outBytes, fileId: b.outputFileId, field: 'output_file_id', list: this.d.bk.batchOutput(id), name: `${id}_output.jsonl` },
      { bytes: b.errBytes, fileId: b.errorFileId, field: 'error_file_id', list: this.d.bk.batchErrors(id), name: `${id}_error.jsonl` },
    ];
    for (const f of files) {
      if (f.bytes === 0) continue;
      const fileId = f.fileId ?? newFileId();
      if (!f.fileId) await this.d.batches.setFields(id, { [f.field]: fileId });
      await this.d.files.adopt(fileId, b.tenant, f.name, f.list, f.bytes);
    }
    if (await this.d.batches.transition(id, b.ending, ['finalizing'])) await this.end(id);
  }

  private async end(id: string): Promise<void> {
    const b = await this.d.batches.read(id);
    await this.d.batches.retire(id, b?.inputFileId ?? '');
    if (b) {
      this.d.log.info({ batchId: id, status: b.status, total: b.total, completed: b.completed, failed: b.failed }, 'Batch finished');
      await this.d.onFinished(b);
    }
  }

  /** Stops driving; leases lapse or are released so another instance continues. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.timer) clearInterval(this.timer);
    for (const s of this.driving.values()) s.wake();
    await Promise.all([...this.driving.values()].map((s) => s.done));
  }
}
