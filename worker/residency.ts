/**
 * Residency: the one rule. A BullMQ `Worker` exists for a model's queue only while that model
 * is resident on this worker's engine. Loads and unloads go through here.
 */
import { Worker, type Job } from 'bullmq';
import type { RedisClient } from '../store/redis-client.ts';
import type { JobPayload } from '../protocol/job.ts';
import type { Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import { metrics } from './metrics.ts';
import { queueNameFor } from '../protocol/model-names.ts';
import type { LoadingModelInfo, ResidentModelInfo } from '../protocol/worker-state.ts';
import { EngineError } from '../protocol/errors.ts';
import type { Engine, LoadProgress } from './engines/port/engine.ts';
import type { FootprintStore } from '../store/footprint-store.ts';
import type { LoadSpeedStore } from '../store/load-speed-store.ts';
import type { LoadTier } from '../protocol/host-cache.ts';
import { planLoad, type MemoryState } from './vram-ledger.ts';
import type { WorkerNodeOptions } from './options.ts';

/** A model on this worker is in exactly one state: loading (memory reserved) or resident (its queue consumed). */
type ModelSlot =
  | { state: 'loading'; startedAt: number; reservedBytes: number; done: Promise<void> }
  | { state: 'resident'; info: ResidentModelInfo; consumer: Worker<JobPayload>; loadMs: number };
type Resident = Extract<ModelSlot, { state: 'resident' }>;
type Loading = Extract<ModelSlot, { state: 'loading' }>;

/** Memory the engine loads into: GPUs when it has them, else its configured capacity. */
export interface MemoryPort {
  /** Total and free memory now, not counting loads in progress. */
  state(residentBytes: number): Promise<MemoryState>;
  /** Bytes in use on the GPUs (NVML), for measuring a load; null without GPUs. */
  gpuUsedBytes(): Promise<number | null>;
}

export interface ResidencyDeps {
  engine: Engine;
  connection: RedisClient;
  keys: Keys;
  opts: WorkerNodeOptions;
  processor: (job: Job<JobPayload>, token?: string) => Promise<void>;
  log: Logger;
  memory: MemoryPort;
  footprints: FootprintStore;
  /** Where each load's speed is recorded, per tier. */
  loadSpeeds?: LoadSpeedStore;
  /** The tier a load of the model reads from now and its files' size (host-cache); undefined: unknown. */
  tierOf?: (model: string) => Promise<{ tier: LoadTier; fileBytes: number } | undefined>;
  /** Told of a load reading from disk (until `loading` settles), so that staging reads stand aside. */
  onDiskLoad?: (loading: Promise<unknown>) => void;
  changed: () => void;
  /** Told of a load's progress (a pull), to pass on to the jobs waiting for the model. */
  onLoadProgress: (model: string, p: LoadProgress) => void;
  /** Told of BullMQ jobs whose lock this worker failed to renew: another worker may take them now. */
  onLockLost: (bullJobIds: string[]) => void;
}

export class Residency {
  private readonly models = new Map<string, ModelSlot>();
  private readonly engine: Engine;
  private readonly log: Logger;

  private readonly d: ResidencyDeps;
  constructor(d: ResidencyDeps) {
    this.d = d;
    this.engine = d.engine;
    this.log = d.log;
  }

  private changed(): void {
    this.d.changed();
  }

  private residents(): Resident[] {
    return [...this.models.values()].filter((m): m is Resident => m.state === 'resident');
  }

  private loadingOf(model: string): Loading | undefined {
    const m = this.models.get(model);
    return m?.state === 'loading' ? m : undefined;
  }

  private residentOf(model: string): Resident | undefined {
    const m = this.models.get(model);
    return m?.state === 'resident' ? m : undefined;
  }

  residentModels(): ResidentModelInfo[] {
    return this.residents().map((r) => ({ ...r.info }));
  }

  loadingModels(): LoadingModelInfo[] {
    return [...this.models].flatMap(([model, m]) => (m.state === 'loading' ? [{ model, startedAt: m.startedAt, reservedBytes: m.reservedBytes }] : []));
  }

  isResident(model: string): boolean {
    return this.residentOf(model) !== undefined;
  }

  /** When the model became resident here, for load-wait accounting. */
  loadedAt(model: string): { loadedAt: number; loadStartedAt: number } | undefined {
    const r = this.residentOf(model);
    return r ? { loadedAt: r.info.loadedAt, loadStartedAt: r.info.loadedAt - r.loadMs } : undefined;
  }

  /** Counts a job starting (+1) or ending (-1) on `model`; returns the model's active jobs after it. */
  touch(model: string, activeDelta: number): number {
    const r = this.residentOf(model);
    if (!r) return 0;
    r.info.lastUsedAt = Date.now();
    r.info.activeJobs += activeDelta;
    return r.info.activeJobs;
  }

  /** Loads a model and starts consuming its queue; concurrent calls share one load. */
  async load(model: string): Promise<void> {
    const current = this.models.get(model);
    if (current?.state === 'resident') return;
    if (current?.state === 'loading') return current.done;
    const startedAt = Date.now();
    const entry: Loading = { state: 'loading', startedAt, reservedBytes: 0, done: Promise.resolve() };
    entry.done = this.doLoad(model, startedAt, entry).finally(() => {
      // A successful load has already replaced the entry with the resident one.
      if (this.models.get(model) === entry) this.models.delete(model);
      this.changed();
    });
    this.models.set(model, entry);
    this.changed();
    return entry.done;
  }

  /**
   * The ledger's admission check: refuses a load that would not fit free memory with
   * headroom, before anything is loaded. Returns the estimate and the bytes to reserve.
   */
  private async admit(model: string): Promise<{ estimatedBytes: number; needBytes: number }> {
    const [estimate, measured] = await Promise.all([this.engine.estimateFootprint?.(model), this.d.footprints.get(this.engine.kind, model)]);
    const estimatedBytes = estimate?.totalBytes ?? 0;
    const residentBytes = this.residents().reduce((s, r) => s + r.info.sizeBytes, 0);
    const reserved = [...this.models.values()].reduce((s, m) => s + (m.state === 'loading' ? m.reservedBytes : 0), 0);
    const memory = await this.d.memory.state(residentBytes);
    const plan = planLoad(model, { estimatedBytes, measuredBytes: measured?.measuredBytes ?? null }, { ...memory, freeBytes: memory.freeBytes - reserved }, { headroomRatio: this.d.opts.vramHeadroomRatio });
    if (!plan.ok) {
      this.log.warn({ model, needBytes: plan.needBytes, availableBytes: plan.availableBytes, basis: plan.basis }, 'Load refused: would not fit');
      throw new EngineError('insufficient_vram', plan.reason);
    }
    return { estimatedBytes, needBytes: plan.needBytes };
  }

  private async doLoad(model: string, startedAt: number, entry: { reservedBytes: number }): Promise<void> {
    const { estimatedBytes, needBytes } = await this.admit(model);
    entry.reservedBytes = needBytes;
    this.log.info({ model, estimatedBytes, reservedBytes: needBytes }, 'Model loading');
    const gpuBefore = await this.d.memory.gpuUsedBytes();
    const tier = await this.d.tierOf?.(model);
    const loadStarted = performance.now();
    const loading = this.engine.load(model, { onProgress: (p) => this.d.onLoadProgress(model, p) });
    if (tier?.tier === 'disk') this.d.onDiskLoad?.(loading);
    const res = await loading;
    const engineLoadMs = performance.now() - loadStarted;
    const gpuAfter = await this.d.memory.gpuUsedBytes();
    const slots = (await this.engine.capacity()).slotsPerModel;
    const q = this.d.opts.queue;
    const consumer = new Worker<JobPayload>(queueNameFor(model), this.d.processor, {
      connection: this.d.connection,
      prefix: this.d.keys.bullPrefix,
      concurrency: slots,
      lockDuration: q.lockDurationMs,
      stalledInterval: q.stalledIntervalMs,
      maxStalledCount: q.maxStalledCount,
      name: this.d.opts.workerId,
    });
    consumer.on('error', (err) => this.log.error({ model, err }, 'Queue consumer error'));
    consumer.on('lockRenewalFailed', (ids) => this.d.onLockLost(ids));
    const now = Date.now();
    // Measured: the GPUs' used-memory delta when there are GPUs, else what the engine reports.
    const nvmlDelta = gpuBefore !== null && gpuAfter !== null ? gpuAfter - gpuBefore : 0;
    const measuredBytes = Math.max(nvmlDelta, res.sizeVramBytes) || res.sizeBytes;
    this.models.set(model, {
      state: 'resident',
      info: { model, sizeBytes: measuredBytes, sizeVramBytes: Math.max(nvmlDelta, res.sizeVramBytes), estimatedBytes, loadedAt: now, lastUsedAt: now, activeJobs: 0, ...(res.contextLength ? { contextLength: res.contextLength } : {}) },
      consumer,
      loadMs: now - startedAt,
    });
    await this.d.footprints
      .record({ engine: this.engine.kind, model, estimatedBytes, measuredBytes, at: now })
      .catch((err) => this.log.warn({ model, err }, 'Recording the measured footprint failed'));
    metrics.footprint.set({ model, engine: this.engine.kind, kind: 'estimated' }, estimatedBytes);
    metrics.footprint.set({ model, engine: this.engine.kind, kind: 'measured' }, measuredBytes);
    metrics.loadDuration.observe({ model, engine: this.engine.kind }, (now - startedAt) / 1000);
    if (tier && this.d.loadSpeeds) {
      await this.d.loadSpeeds
        .record({ engine: this.engine.kind, tier: tier.tier, bytes: tier.fileBytes, ms: engineLoadMs, at: now })
        .catch((err) => this.log.warn({ model, err }, 'Recording the load speed failed'));
    }
    this.log.info({ model, loadMs: now - startedAt, ...(tier ? { tier: tier.tier } : {}), estimatedBytes, measuredBytes, slots }, 'Model resident');
  }

  /** Stops taking the model's jobs, lets active ones finish, then unloads it from the engine. */
  async unload(model: string): Promise<void> {
    await this.loadingOf(model)?.done.catch(() => undefined);
    const r = this.residentOf(model);
    if (!r) return;
    this.models.delete(model);
    this.changed();
    this.log.info({ model }, 'Model draining for unload');
    await r.consumer.close();
    await this.engine.unload(model);
    this.log.info({ model }, 'Model unloaded');
    this.changed();
  }

  /** Stops consuming a model the engine dropped on its own (crash, restart, eviction). */
  async reconcile(): Promise<void> {
    const onEngine = new Set((await this.engine.resident()).map((m) => m.name));
    for (const [model, r] of [...this.models]) {
      if (r.state === 'resident' && !onEngine.has(model)) {
        this.log.warn({ model }, 'Engine no longer holds model; stopping its queue consumer');
        this.models.delete(model);
        await r.consumer.close(true).catch(() => undefined);
        this.changed();
      }
    }
  }

  /** Closes every consumer: waits for active jobs unless `force`. */
  async closeAll(force = false): Promise<void> {
    await Promise.all(this.residents().map((r) => r.consumer.close(force).catch(() => undefined)));
  }

  /** Takes jobs again after `pauseAll` (the engine answers again). */
  resumeAll(): void {
    for (const r of this.residents()) r.consumer.resume();
  }

  /** Pauses intake everywhere without waiting (start of a drain, or the engine went away). */
  async pauseAll(): Promise<void> {
    await Promise.all(this.residents().map((r) => r.consumer.pause(true).catch(() => undefined)));
  }

  /** Forgets every resident model (after `closeAll`); loads in flight finish on their own. */
  clear(): void {
    for (const [model, m] of [...this.models]) if (m.state === 'resident') this.models.delete(model);
  }
}
