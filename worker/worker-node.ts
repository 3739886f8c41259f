/**
 * One worker process (one engine): publishes its catalog, heartbeats, takes load/unload
 * commands from its control stream, consumes the queues of its resident models, aborts
 * canceled jobs, and drains on shutdown.
 */
import { hostname } from 'node:os';
import { DelayedError, type Job } from 'bullmq';
import { duplicateClient, type RedisClient } from '../store/redis-client.ts';
import { JobStore } from '../store/job-store.ts';
import type { JobPayload, StatusListener } from '../protocol/job.ts';
import type { Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import { metrics } from './metrics.ts';
import type { GpuInfo, Heartbeat, WorkerLifecycle } from '../protocol/worker-state.ts';
import type { Engine } from './engines/port/engine.ts';
import type { ControlCommand } from '../protocol/control.ts';
import { parseBullJobId } from '../store/queue-keys.ts';
import { ControlStream } from './control-stream.ts';
import { JobRunner } from './job-runner.ts';
import type { WorkerNodeOptions } from './options.ts';
import { Residency } from './residency.ts';
import { FootprintStore } from '../store/footprint-store.ts';
import { LoadSpeedStore } from '../store/load-speed-store.ts';
import type { HostCache } from './host-cache/host-cache.ts';
import { openHostTier, stageModel } from './host-tier.ts';
import { publishCatalog } from './catalog-publisher.ts';
import { LoadProgressAnnouncer } from './load-progress.ts';
import { MemorySource } from './memory-source.ts';
import { TenantSlots } from '../store/tenant-slots.ts';
import { TenantGate, bullWaker } from './tenant-gate.ts';
import { ModelAdmin } from './model-admin.ts';

export interface WorkerNodeDeps {
  engine: Engine;
  /** Connection for commands and BullMQ; the node duplicates it for blocking reads. */
  redis: RedisClient;
  keys: Keys;
  store: JobStore;
  log: Logger;
  onStatus: StatusListener;
  /** Per-GPU truth (NVML or nvidia-smi); without it the engine's own capacity report is used. */
  gpus?: { read(): Promise<GpuInfo[]> };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Idle signals to the scheduler are at least this far apart per worker. */
const IDLE_SIGNAL_MIN_INTERVAL_MS = 100;

export class WorkerNode {
  state: WorkerLifecycle = 'starting';
  private readonly residency: Residency;
  private readonly runner: JobRunner;
  /** Tenants' running caps: a capped job takes a slot before it runs. */
  private readonly gate: TenantGate;
  private readonly startedAt = Date.now();
  private lastUsedAt = 0;
  private control: ControlStream | null = null;
  private cancelSub: RedisClient | null = null;
  private timers: NodeJS.Timeout[] = [];
  private capacity = { slotsPerModel: 1, memoryBytes: 0, gpus: [] as Heartbeat['gpus'] };
  private readonly memory: MemorySource;
  private readonly progress: LoadProgressAnnouncer;
  private engineHealthy = true;
  private closing: Promise<void> | null = null;
  /** Drained on the scheduler's command (a scale-down), as opposed to a shutdown. */
  private drainedForScaleDown = false;
  /** The host tier (page cache of the model files); null when off or not measurable here. */
  private hostCache: HostCache | null = null;
  /** Operators' pulls and deletes, run beside the control stream. */
  readonly models: ModelAdmin;

  private readonly opts: WorkerNodeOptions;
  private readonly deps: WorkerNodeDeps;
  constructor(
    opts: WorkerNodeOptions,
    deps: WorkerNodeDeps,
  ) {
    this.opts = opts;
    this.deps = deps;
    this.memory = new MemorySource({ engine: deps.engine, ...(deps.gpus ? { gpus: deps.gpus } : {}), log: deps.log, configuredBytes: () => this.capacity.memoryBytes });
    this.progress = new LoadProgressAnnouncer({ workerId: opts.workerId, redis: deps.redis, keys: deps.keys, store: deps.store, log: deps.log });
    this.runner = new JobRunner({
      workerId: opts.workerId,
      engine: deps.engine,
      store: deps.store,
      log: deps.log,
      onStatus: deps.onStatus,
      onOutOfMemory: (model) => {
        deps.log.warn({ model, workerId: opts.workerId }, 'Engine out of memory: asking the scheduler to re-place the model');
        void deps.redis.publish(deps.keys.schedulerWake(), model).catch(() => undefined);
      },
      loadWaitMs: (model, createdAt) => {
        const r = this.residency.loadedAt(model);
        if (!r || r.loadedAt <= createdAt) return null;
        return r.loadedAt - Math.max(createdAt, r.loadStartedAt);
      },
    });
    this.gate = new TenantGate(new TenantSlots(deps.redis, deps.keys), bullWaker(deps.redis, deps.keys.bullPrefix), deps.log, { leaseMs: opts.tenantSlotLeaseMs, deferMinMs: opts.tenantDeferMinMs, deferMaxMs: opts.tenantDeferMaxMs });
    this.residency = new Residency({
      engine: deps.engine,
      connection: deps.redis,
      keys: deps.keys,
      opts,
      processor: this.processJob,
      onLockLost: (ids) => {
        for (const bullId of ids) {
          const { id } = parseBullJobId(bullId);
          this.gate.abandon(id);
          if (this.runner.abort(id, 'lock_lost')) deps.log.warn({ jobId: id, workerId: opts.workerId }, 'Job lock lost: aborted here, the stalled check hands it to another worker');
        }
      },
      log: deps.log,
      memory: this.memory.port(),
      footprints: new FootprintStore(deps.redis, deps.keys),
      loadSpeeds: new LoadSpeedStore(deps.redis, deps.keys),
      tierOf: async (model) => (this.hostCache ? await this.hostCache.tierOf(model).catch(() => undefined) : undefined),
      onDiskLoad: (loading) => this.hostCache?.yieldTo(loading),
      changed: () => void this.beat(true),
      onLoadProgress: (model, p) => this.progress.announce(model, p),
    });
    this.models = new ModelAdmin({
      workerId: opts.workerId,
      engine: deps.engine,
      redis: deps.redis,
      keys: deps.keys,
      log: deps.log,
      unload: (model) => this.unload(model),
      publishCatalog: () => this.publishCatalog(),
    });
  }

  /** One control command: loads and unloads in order; pulls and deletes started beside them. */
  private handleControl(cmd: ControlCommand): Promise<void> {
    switch (cmd.type) {
      case 'load':
        return this.load(cmd.model);
      case 'unload':
        return this.unload(cmd.model);
      case 'drain':
        return this.drain();
      case 'pull':
      case 'delete':
        this.models.start(cmd);
        return Promise.resolve();
      case 'stage':
        stageModel(this.hostCache, cmd.model, () => this.beat(), this.deps.log);
        return Promise.resolve();
    }
  }

  get id(): string {
    return this.opts.workerId;
  }

  private readonly processJob = async (job: Job<JobPayload>, token?: string): Promise<void> => {
    // A pause does not stop a fetch already in flight: a job that slips through while the
    // engine is down goes back to the queue untouched (no attempt counted, still `queued`).
    if (!this.engineHealthy && token) {
      await job.moveToDelayed(Date.now() + this.opts.residencyCheckMs, token);
      throw new DelayedError();
    }
    // Its tenant at its running cap: back to the queue untouched, for a short wait.
    if (!(await this.gate.admit(job, token))) throw new DelayedError();
    this.residency.touch(job.data.model, +1);
    this.lastUsedAt = Date.now();
    try {
      await this.runner.process(job);
    } finally {
      await this.gate.release(job.data.id, token);
      // Idle now: a cold backlog the scheduler could not place may be waiting for exactly this.
      if (this.residency.touch(job.data.model, -1) === 0) this.signalIdle();
      this.lastUsedAt = Date.now();
    }
  };

  private idleTimer: NodeJS.Timeout | null = null;
  private lastIdleSignalAt = 0;

  /**
   * Writes a fresh heartbeat (so the scheduler sees the model idle) and publishes on the
   * scheduler's idle channel, at most once per IDLE_SIGNAL_MIN_INTERVAL_MS: a burst of jobs
   * ending costs one heartbeat write, not one per job.
   */
  private signalIdle(): void {
    if (this.idleTimer || this.closing) return;
    const due = this.lastIdleSignalAt + IDLE_SIGNAL_MIN_INTERVAL_MS - Date.now();
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      this.lastIdleSignalAt = Date.now();
      void this.beat(true);
    }, Math.max(0, due));
  }

  private setState(state: WorkerLifecycle): void {
    this.state = state;
    this.deps.log.info({ state, workerId: this.id }, 'Worker state changed');
  }

  async start(): Promise<void> {
    const { redis, keys, engine, log } = this.deps;
    this.capacity = await engine.capacity();
    await this.publishCatalog();
    this.cancelSub = duplicateClient(redis);
    await this.cancelSub.subscribe(keys.cancelChannel());
    this.cancelSub.on('message', (_ch, jobId: string) => {
      if (this.runner.abort(jobId, 'canceled')) log.info({ jobId }, 'Running job canceled');
    });
    this.hostCache = await openHostTier({ engine, log, budgetBytes: this.opts.hostCacheBytes, checkMs: this.opts.hostCacheCheckMs, keepTimer: (t) => this.timers.push(t) });
    this.control = new ControlStream(duplicateClient(redis), keys.workerControl(this.id), log, (cmd) => this.handleControl(cmd));
    void this.control.run(() => this.state === 'starting' || this.state === 'running');
    this.timers.push(setInterval(() => void this.beat(), this.opts.heartbeatIntervalMs));
    this.timers.push(setInterval(() => void this.checkEngine(), this.opts.residencyCheckMs));
    this.setState('running');
    await this.beat();
    for (const model of this.opts.preload) {
      await this.load(model).catch((err) => log.error({ model, err }, 'Preload failed'));
    }
  }

  /**
   * While the engine does not answer, stop taking jobs (they stay queued for other workers or
   * for later); once it answers, take them again and drop models it no longer holds.
   */
  private async checkEngine(): Promise<void> {
    const { engine, log } = this.deps;
    if (this.state !== 'running') return;
    const healthy = engine.healthy ? await engine.healthy().catch(() => false) : true;
    if (healthy !== this.engineHealthy) {
      this.engineHealthy = healthy;
      log.warn({ engine: engine.kind, healthy }, healthy ? 'Engine answers again: taking jobs' : 'Engine does not answer: no longer taking jobs');
      if (healthy) this.residency.resumeAll();
      else await this.residency.pauseAll();
      void this.beat();
    }
    if (healthy) await this.residency.reconcile().catch((err) => log.warn({ err }, 'Residency check failed'));
  }

  /** Writes every model the engine can serve into the shared catalog. */
  publishCatalog(): Promise<void> {
    return publishCatalog(this.deps.engine, this.deps.redis, this.deps.keys);
  }

  async load(model: string): Promise<void> {
    if (this.state !== 'running') throw new Error(`worker is ${this.state}`);
    await this.residency.load(model);
  }

  async unload(model: string): Promise<void> {
    await this.residency.unload(model);
  }

  /**
   * The scheduler's scale-down: stop taking jobs, let active ones finish, unload every model,
   * and stay up, empty and `draining`, until the actuator removes this worker. Its queues' next
   * jobs go to other replicas (the queues are shared) or wait for a load elsewhere.
   */
  async drain(): Promise<void> {
    if (this.state !== 'running') return;
    this.drainedForScaleDown = true;
    this.setState('draining');
    await this.beat();
    await this.residency.pauseAll();
    for (const m of this.residency.residentModels()) {
      await this.residency.unload(m.model).catch((err) => this.deps.log.warn({ model: m.model, err }, 'Unload during drain failed'));
    }
    await this.beat();
    this.deps.log.info({ workerId: this.id }, 'Worker drained; waiting to be released');
  }

  heartbeat(): Heartbeat {
    const resident = this.residency.residentModels();
    const activeJobs = this.runner.activeCount;
    const gpus = this.memory.latest.length > 0 ? this.memory.latest : this.capacity.gpus;
    const usedBytes = resident.reduce((s, m) => s + m.sizeBytes, 0);
    return {
      workerId: this.id,
      engine: this.deps.engine.kind,
      ...(this.opts.pool ? { pool: this.opts.pool } : {}),
      host: hostname(),
      pid: process.pid,
      state: this.state,
      ...(this.drainedForScaleDown && this.state === 'draining' ? { drainedForScaleDown: true } : {}),
      startedAt: this.startedAt,
      at: Date.now(),
      // With GPUs the capacity is their memory; `usedBytes` stays the fabric's own models.
      capacityBytes: gpus.length > 0 ? sum(gpus.map((g) => g.memoryTotalBytes)) : this.capacity.memoryBytes,
      usedBytes,
      gpus,
      slotsPerModel: this.capacity.slotsPerModel,
      resident,
      loading: this.residency.loadingModels(),
      activeJobs,
      freeSlots: this.engineHealthy ? Math.max(0, resident.length * this.capacity.slotsPerModel - activeJobs) : 0,
      engineHealthy: this.engineHealthy,
      headroomRatio: this.opts.vramHeadroomRatio,
      lastUsedAt: this.lastUsedAt,
      ...(this.hostCache?.report() ? { hostCache: this.hostCache.report()! } : {}),
    };
  }

  /** Writes the heartbeat; with `signal`, also tells a listening scheduler that residency or idleness changed. */
  private async beat(signal = false): Promise<void> {
    if (this.state === 'stopped') return;
    const { redis, keys, log } = this.deps;
    await this.memory.read();
    const hb = this.heartbeat();
    for (const g of hb.gpus) {
      const labels = { gpu: g.uuid, worker: this.id };
      metrics.gpuMemoryTotal.set(labels, g.memoryTotalBytes);
      metrics.gpuMemoryUsed.set(labels, g.memoryUsedBytes);
      metrics.gpuMemoryFree.set(labels, g.memoryFreeBytes);
      if (g.utilization !== null) metrics.gpuUtilization.set(labels, g.utilization);
    }
    try {
      const m = redis.multi().set(keys.workerHeartbeat(this.id), JSON.stringify(hb), 'PX', this.opts.heartbeatTtlMs).sadd(keys.workersIndex(), this.id);
      if (signal) m.publish(keys.schedulerIdle(), this.id);
      await m.exec();
      metrics.heartbeats.inc({ worker: this.id });
      metrics.residentModels.set({ worker: this.id }, hb.resident.length);
    } catch (err) {
      log.warn({ err }, 'Heartbeat write failed');
    }
  }

  /** Graceful drain: stop taking jobs, let active ones finish (up to the drain timeout), deregister. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const { redis, keys, log } = this.deps;
    this.setState('draining');
    await this.beat();
    for (const t of this.timers) clearInterval(t);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    await this.residency.pauseAll();
    const drained = this.residency.closeAll(false);
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), this.opts.drainTimeoutMs).unref());
    if ((await Promise.race([drained.then(() => 'done' as const), timeout])) === 'timeout') {
      log.warn({ active: this.runner.activeCount }, 'Drain timed out; aborting active jobs so they run elsewhere');
      this.runner.abortAll('shutdown');
      await drained;
    }
    this.setState('stopped');
    try {
      await redis.multi().del(keys.workerHeartbeat(this.id)).srem(keys.workersIndex(), this.id).exec();
    } catch (err) {
      log.warn({ err }, 'Deregister failed');
    }
    for (const conn of [this.cancelSub, this.control]) {
      try {
        conn?.disconnect();
      } catch (err) {
        log.warn({ err }, 'Connection close failed');
      }
    }
    this.residency.clear();
    await this.gate.close().catch((err) => log.warn({ err }, 'Closing the tenant gate failed'));
  }
}
