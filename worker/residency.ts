/**
 * Residency: the one rule. A BullMQ `Worker` exists for a model's queue only while that model
 * is resident on this worker's engine. Loads and unloads go through here.
 */
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobPayload } from '../protocol/job.js';
import type { Keys } from '../protocol/keys.js';
import type { Logger } from '../protocol/logger.js';
import { metrics } from '../protocol/metrics.js';
import { queueNameFor } from '../protocol/model-names.js';
import type { LoadingModelInfo, ResidentModelInfo } from '../protocol/worker-state.js';
import type { Engine } from './engines/engine.js';
import type { WorkerNodeOptions } from './options.js';

interface Resident {
  info: ResidentModelInfo;
  consumer: Worker<JobPayload>;
  loadMs: number;
}

export class Residency {
  private readonly resident = new Map<string, Resident>();
  private readonly loading = new Map<string, { startedAt: number; done: Promise<void> }>();

  constructor(
    private readonly engine: Engine,
    private readonly connection: Redis,
    private readonly keys: Keys,
    private readonly opts: WorkerNodeOptions,
    private readonly processor: (job: Job<JobPayload>) => Promise<void>,
    private readonly log: Logger,
    private readonly changed: () => void,
  ) {}

  residentModels(): ResidentModelInfo[] {
    return [...this.resident.values()].map((r) => ({ ...r.info }));
  }

  loadingModels(): LoadingModelInfo[] {
    return [...this.loading].map(([model, l]) => ({ model, startedAt: l.startedAt }));
  }

  isResident(model: string): boolean {
    return this.resident.has(model);
  }

  /** When the model became resident here, for load-wait accounting. */
  loadedAt(model: string): { loadedAt: number; loadStartedAt: number } | undefined {
    const r = this.resident.get(model);
    return r ? { loadedAt: r.info.loadedAt, loadStartedAt: r.info.loadedAt - r.loadMs } : undefined;
  }

  touch(model: string, activeDelta: number): void {
    const r = this.resident.get(model);
    if (!r) return;
    r.info.lastUsedAt = Date.now();
    r.info.activeJobs += activeDelta;
  }

  /** Loads a model and starts consuming its queue; concurrent calls share one load. */
  async load(model: string): Promise<void> {
    if (this.resident.has(model)) return;
    const pending = this.loading.get(model);
    if (pending) return pending.done;
    const startedAt = Date.now();
    const done = this.doLoad(model, startedAt).finally(() => {
      this.loading.delete(model);
      this.changed();
    });
    this.loading.set(model, { startedAt, done });
    this.changed();
    return done;
  }

  private async doLoad(model: string, startedAt: number): Promise<void> {
    this.log.info({ model }, 'Model loading');
    const res = await this.engine.load(model);
    const slots = (await this.engine.capacity()).slotsPerModel;
    const q = this.opts.queue;
    const consumer = new Worker<JobPayload>(queueNameFor(model), this.processor, {
      connection: this.connection,
      prefix: this.keys.bullPrefix,
      concurrency: slots,
      lockDuration: q.lockDurationMs,
      stalledInterval: q.stalledIntervalMs,
      maxStalledCount: q.maxStalledCount,
      name: this.opts.workerId,
    });
    consumer.on('error', (err) => this.log.error({ model, err }, 'Queue consumer error'));
    const now = Date.now();
    this.resident.set(model, {
      info: { model, sizeBytes: res.sizeBytes, sizeVramBytes: res.sizeVramBytes, loadedAt: now, lastUsedAt: now, activeJobs: 0 },
      consumer,
      loadMs: now - startedAt,
    });
    metrics.loadDuration.observe({ model, engine: this.engine.kind }, (now - startedAt) / 1000);
    this.log.info({ model, loadMs: now - startedAt, sizeBytes: res.sizeBytes, slots }, 'Model resident');
  }

  /** Stops taking the model's jobs, lets active ones finish, then unloads it from the engine. */
  async unload(model: string): Promise<void> {
    await this.loading.get(model)?.done.catch(() => undefined);
    const r = this.resident.get(model);
    if (!r) return;
    this.resident.delete(model);
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
    for (const model of [...this.resident.keys()]) {
      if (!onEngine.has(model)) {
        this.log.warn({ model }, 'Engine no longer holds model; stopping its queue consumer');
        const r = this.resident.get(model)!;
        this.resident.delete(model);
        await r.consumer.close(true).catch(() => undefined);
        this.changed();
      }
    }
  }

  /** Closes every consumer: waits for active jobs unless `force`. */
  async closeAll(force = false): Promise<void> {
    await Promise.all([...this.resident.values()].map((r) => r.consumer.close(force).catch(() => undefined)));
  }

  /** Pauses intake everywhere without waiting (start of a drain). */
  async pauseAll(): Promise<void> {
    await Promise.all([...this.resident.values()].map((r) => r.consumer.pause(true).catch(() => undefined)));
  }

  clear(): void {
    this.resident.clear();
  }
}
