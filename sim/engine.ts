/**
 * Discrete-event simulation of a GPU pool on a virtual clock. The engine owns the rules every
 * policy plays by; the policy (see policy.ts) only decides loads, unloads and scaling.
 *
 * Rules (invariants):
 * - A replica holds its footprint from the start of its load until its unload.
 * - A load whose footprint exceeds the GPU's free memory is an OOM: it is counted, nothing is
 *   loaded, and the model's queued requests fail (rejected, reason `oom`) unless another replica
 *   of it is resident or loading; later arrivals may trigger another attempt.
 * - Requests wait in their model's FIFO queue until a ready replica has a free slot; dispatch
 *   picks the replica with the fewest running requests. Slots do not slow each other down.
 * - TTFT = arrival -> first token = queue wait (including any load wait) + prefill.
 * - A request is warm when, at its arrival, its model is ready (not loading) on a running GPU.
 * - A model whose footprint exceeds every worker class's memory (its GPUs together) is rejected
 *   at arrival (`too_large`). A load goes on the worker's GPU with the least free memory that
 *   holds it whole, else it is split across its GPUs, most free first (as Ollama splits layers).
 * - Unloading a busy replica drains it first; unloading a loading replica is ignored.
 * - Scale-ups add workers that run after `gpuStartMs`; scale-downs remove only empty workers,
 *   never below their pool's minimum; `release` removes one named empty worker.
 *   GPU-seconds count every GPU of every provisioned worker from its provisioning to its
 *   removal or the end.
 * - Each worker is its own host with `hostMemoryFactor` x its GPU memory; its page cache is an LRU
 *   of model files within that memory (sim/model/host-cache.ts). A load reads its file through it
 *   (from the cache when the whole file is there, else from disk); a `stage` action reads a file
 *   into it at disk speed, without GPU memory, one file after another per host.
 * - A cold start is a load that a request waited on: from the start of the load to resident,
 *   counted when the load lands with requests for its model queued.
 * - The "GPU" of the policy view is a worker (one or more GPUs); the names predate multi-GPU workers.
 * - Requests still queued when the run stalls (no arrivals left, nothing in flight, no
 *   progress for `stallLimitMs`) are rejected as `never_served`.
 */
import { EventQueue } from './event-queue.ts';
import type { GpuView, ModelInfo, QueueView, ReplicaView, SimAction, SimPolicy, SimView } from './policies/policy.ts';
import { decodeMs, footprintBytes, loadMs, prefillMs, type ServiceModel } from './model/service-model.ts';
import { uniformFleet, workerBytes, type WorkerClass } from './model/fleet.ts';
import type { ModelSpec, TraceRequest } from './model/trace.ts';
import { HostPageCache } from './model/host-cache.ts';

export interface ClusterOptions {
  /** One pool of single-GPU workers (the older form): ignored when `fleet` is given. */
  readonly gpus?: number;
  readonly gpuMemBytes?: number;
  readonly maxGpus?: number;
  /** Worker classes (sim/model/fleet.ts); each is a pool scaled on its own between its min and max. */
  readonly fleet?: readonly WorkerClass[];
  /** Period of the policy's `onTick` (the real scheduler ticks every 2 s). */
  readonly tickMs: number;
  readonly stallLimitMs: number;
}

export type RejectReason = 'too_large' | 'unknown_model' | 'queue_full' | 'oom' | 'never_served';

export interface TimelinePoint {
  readonly at: number;
  readonly gpu: string;
  /** Ready replicas on that GPU from `at` on. */
  readonly resident: number;
}

export interface SimResult {
  readonly policy: string;
  readonly requests: number;
  readonly completed: number;
  /** TTFT of every completed request, ascending. */
  readonly ttftMs: number[];
  /** Accepted requests (not rejected at arrival) and how many of them found their model warm. */
  readonly accepted: number;
  readonly warm: number;
  readonly coldLoads: number;
  readonly loadsFromCache: number;
  /** Durations of the loads a request waited on, start to resident, ascending. */
  readonly coldStartMs: number[];
  /** Of those, the loads that read their file from the page cache (cached, or staging when they began). */
  readonly coldStartsFromCache: number;
  /** Of those, a model's first load in the run: no arrival history could have predicted it. */
  readonly coldStartsFirst: number;
  /** Files read into a page cache on a `stage` action. */
  readonly staged: number;
  readonly gpuSeconds: number;
  readonly oom: number;
  readonly rejected: number;
  readonly rejectedBy: Record<RejectReason, number>;
  readonly timeline: TimelinePoint[];
  readonly endMs: number;
  /** Actions the engine refused (unknown GPU, duplicate load, ...): a policy bug indicator. */
  readonly invalidActions: number;
}

interface Replica extends ReplicaView {
  state: 'loading' | 'ready';
  draining: boolean;
  loadedAt: number | null;
  lastUsedAt: number;
  active: number;
  /** Bytes it holds on each of its worker's GPUs. */
  perDevice: number[];
  /** Its load read the file from the page cache (or along with a staging read), not from disk alone. */
  fromCache?: boolean;
}

interface Gpu extends GpuView {
  state: 'starting' | 'running';
  replicas: Replica[];
  usedBytes: number;
  deviceUsedBytes: number[];
  readonly cache: HostPageCache;
  hostCached: { model: string; bytes: number }[];
  staging: string[];
  /** When each file being staged is in the page cache. */
  stagedAt: Map<string, number>;
  /** When its disk finishes the staging reads queued so far. */
  diskFreeAt: number;
  /** Staging reads stand aside until then: a load is reading from the disk. */
  diskPausedUntil: number;
}

type SimEvent =
  | { kind: 'load_done'; gpu: Gpu; replica: Replica }
  | { kind: 'request_done'; gpu: Gpu; replica: Replica; req: TraceRequest }
  | { kind: 'gpu_ready'; gpu: Gpu }
  | { kind: 'stage_done'; gpu: Gpu; model: string; bytes: number }
  | { kind: 'tick' };

/** Runs `policy` over `trace` and returns its accounting. Never throws on trace content. */
export function simulate(policy: SimPolicy, trace: readonly TraceRequest[], models: readonly ModelSpec[], cluster: ClusterOptions, service: ServiceModel): SimResult {
  return new Engine(policy, models, cluster, service).run(trace);
}

class Engine implements SimView {
  now = 0;
  readonly gpus: Gpu[] = [];
  readonly models: Map<string, ModelInfo>;
  readonly maxGpus: number;
  readonly fleet: readonly WorkerClass[];
  private readonly largestWorkerBytes: number;
  readonly tickMs: number;
  private readonly events = new EventQueue<SimEvent>();
  private readonly queues = new Map<string, TraceRequest[]>();
  private readonly arrivalLog = new Map<string, number[]>();
  private readonly timeline: TimelinePoint[] = [];
  private readonly ttft: number[] = [];
  private readonly coldStarts: number[] = [];
  private staged = 0;
  private readonly rejectedBy: Record<RejectReason, number> = { too_large: 0, unknown_model: 0, queue_full: 0, oom: 0, never_served: 0 };
  private nextGpuIndex = 0;
  private gpuMs = 0;
  private waitingTotal = 0;
  private running = 0;
  private accepted = 0;
  private warm = 0;
  private coldLoads = 0;
  private coldStartsFromCache = 0;
  private coldStartsFirst = 0;
  private readonly everLoaded = new Set<string>();
  private loadsFromCache = 0;
  private oom = 0;
  private invalid = 0;
  private lastProgress = 0;
  private tickScheduled = false;
  private arrivalsLeft = false;

  private readonly policy: SimPolicy;
  private readonly cluster: ClusterOptions;
  readonly service: ServiceModel;
  constructor(
    policy: SimPolicy,
    models: readonly ModelSpec[],
    cluster: ClusterOptions,
    service: ServiceModel,
  ) {
    this.policy = policy;
    this.cluster = cluster;
    this.service = service;
    this.models = new Map(models.map((m) => [m.name, { name: m.name, sizeBytes: m.sizeBytes, footprintBytes: footprintBytes(service, m.sizeBytes) }]));
    this.fleet = cluster.fleet ?? uniformFleet(Math.max(cluster.gpus ?? 1, 1), cluster.gpuMemBytes ?? 0, cluster.maxGpus ?? 1);
    this.maxGpus = Math.max(1, this.fleet.reduce((s, c) => s + c.max, 0));
    this.largestWorkerBytes = Math.max(...this.fleet.map(workerBytes));
    this.tickMs = cluster.tickMs;
    for (const c of this.fleet) for (let i = 0; i < c.count; i++) this.addGpu(c, 'running');
  }

  // ---- SimView -----------------------------------------------------------------------

  queue(model: string): QueueView {
    const q = this.queues.get(model);
    return { waiting: q?.length ?? 0, oldestArrivalMs: q?.[0]?.arrivalMs ?? null };
  }

  queuedModels(): string[] {
    return [...this.queues.entries()]
      .filter(([, q]) => q.length > 0)
      .sort(([am, a], [bm, b]) => a[0]!.arrivalMs - b[0]!.arrivalMs || am.localeCompare(bm))
      .map(([m]) => m);
  }

  arrivals(model: string): readonly number[] {
    return this.arrivalLog.get(model) ?? [];
  }

  // ---- main loop ---------------------------------------------------------------------

  run(trace: readonly TraceRequest[]): SimResult {
    let i = 0;
    this.arrivalsLeft = trace.length > 0;
    this.scheduleTick();
    for (;;) {
      const nextArrival = trace[i]?.arrivalMs ?? Infinity;
      if (nextArrival === Infinity && this.events.size === 0) break;
      if (this.events.peekTime() <= nextArrival) {
        const ev = this.events.pop()!;
        this.now = Math.max(this.now, ev.at);
        if (!this.handle(ev.item)) break;
      } else {
        this.now = Math.max(this.now, nextArrival);
        this.arrive(trace[i++]!);
        this.arrivalsLeft = i < trace.length;
      }
      this.dispatchAll();
    }
    return this.finish(trace.length);
  }

  /** Returns false when the run should stop (stalled with nothing left to happen). */
  private handle(ev: SimEvent): boolean {
    switch (ev.kind) {
      case 'load_done': {
        if ((this.queues.get(ev.replica.model)?.length ?? 0) > 0) {
          this.coldStarts.push(this.now - ev.replica.loadStartedAt);
          if (ev.replica.fromCache) this.coldStartsFromCache++;
          if (!this.everLoaded.has(ev.replica.model)) this.coldStartsFirst++;
        }
        this.everLoaded.add(ev.replica.model);
        ev.replica.state = 'ready';
        ev.replica.loadedAt = this.now;
        ev.replica.lastUsedAt = this.now;
        this.lastProgress = this.now;
        this.record(ev.gpu);
        // Requests take the new replica before the policy looks: a just-loaded model is never "idle".
        this.dispatch(ev.replica.model);
        this.apply(this.policy.onLoadDone?.(this, ev.gpu.id, ev.replica.model) ?? []);
        return true;
      }
      case 'request_done': {
        ev.replica.active--;
        ev.replica.lastUsedAt = this.now;
        this.running--;
        this.lastProgress = this.now;
        if (ev.replica.draining && ev.replica.active === 0) this.removeReplica(ev.gpu, ev.replica);
        else this.dispatch(ev.replica.model);
        this.apply(this.policy.onRequestDone?.(this, ev.req, ev.gpu.id) ?? []);
        return true;
      }
      case 'stage_done':
        // A load from disk paused the staging reads since this was scheduled: it lands later.
        if ((ev.gpu.stagedAt.get(ev.model) ?? this.now) > this.now) {
          this.events.push(ev.gpu.stagedAt.get(ev.model)!, ev);
          return true;
        }
        ev.gpu.staging = ev.gpu.staging.filter((m) => m !== ev.model);
        ev.gpu.stagedAt.delete(ev.model);
        if (this.gpus.includes(ev.gpu)) {
          ev.gpu.cache.stage(ev.model, ev.bytes);
          ev.gpu.hostCached = ev.gpu.cache.entries();
          this.staged++;
        }
        return true;
      case 'gpu_ready':
        ev.gpu.state = 'running';
        this.record(ev.gpu);
        this.apply(this.policy.onTick?.(this) ?? []);
        return true;
      case 'tick':
        this.tickScheduled = false;
        this.apply(this.policy.onTick?.(this) ?? []);
        if (this.stalled()) return false;
        this.scheduleTick();
        return true;
    }
  }

  private arrive(req: TraceRequest): void {
    const info = this.models.get(req.model);
    this.lastProgress = this.now;
    if (!info) return this.reject('unknown_model');
    if (info.footprintBytes > this.largestWorkerBytes) return this.reject('too_large');
    if (this.policy.maxQueued !== undefined && this.waitingTotal >= this.policy.maxQueued) return this.reject('queue_full');
    this.accepted++;
    if (this.gpus.some((g) => g.state === 'running' && g.replicas.some((r) => r.model === req.model && r.state === 'ready' && !r.draining))) this.warm++;
    let log = this.arrivalLog.get(req.model);
    if (!log) this.arrivalLog.set(req.model, (log = []));
    log.push(req.arrivalMs);
    let q = this.queues.get(req.model);
    if (!q) this.queues.set(req.model, (q = []));
    q.push(req);
    this.waitingTotal++;
    this.dispatch(req.model);
    this.apply(this.policy.onArrival?.(this, req) ?? []);
  }

  private reject(reason: RejectReason, n = 1): void {
    this.rejectedBy[reason] += n;
  }

  // ---- dispatch ----------------------------------------------------------------------

  private dispatchAll(): void {
    for (const [model, q] of this.queues) if (q.length > 0) this.dispatch(model);
  }

  private dispatch(model: string): void {
    const q = this.queues.get(model);
    const info = this.models.get(model);
    if (!q || !info) return;
    const slots = this.service.slotsPerReplica;
    while (q.length > 0) {
      let best: { gpu: Gpu; replica: Replica } | undefined;
      for (const gpu of this.gpus) {
        if (gpu.state !== 'running') continue;
        for (const r of gpu.replicas) {
          if (r.model !== model || r.state !== 'ready' || r.draining || r.active >= slots) continue;
          if (!best || r.active < best.replica.active) best = { gpu, replica: r };
        }
      }
      if (!best) return;
      const req = q.shift()!;
      this.waitingTotal--;
      this.start(req, info, best.gpu, best.replica);
    }
  }

  private start(req: TraceRequest, info: ModelInfo, gpu: Gpu, replica: Replica): void {
    replica.active++;
    replica.lastUsedAt = this.now;
    this.running++;
    this.lastProgress = this.now;
    const prefill = prefillMs(this.service, info.sizeBytes, req.promptTokens);
    this.ttft.push(this.now - req.arrivalMs + prefill);
    this.events.push(this.now + prefill + decodeMs(this.service, info.sizeBytes, req.outputTokens), { kind: 'request_done', gpu, replica, req });
  }

  // ---- actions -----------------------------------------------------------------------

  private apply(actions: readonly SimAction[]): void {
    for (const a of actions) {
      const ok =
        a.type === 'scale'
          ? this.scale(a.gpus, a.pool)
          : a.type === 'release'
            ? this.release(a.gpu)
            : a.type === 'load'
              ? this.load(a.model, a.gpu)
              : a.type === 'stage'
                ? this.stage(a.model, a.gpu)
                : this.unload(a.model, a.gpu);
      if (!ok) this.invalid++;
    }
  }

  private load(model: string, gpuId: string): boolean {
    const gpu = this.gpus.find((g) => g.id === gpuId);
    const info = this.models.get(model);
    if (!gpu || !info || gpu.state !== 'running' || gpu.replicas.some((r) => r.model === model)) return false;
    if (gpu.usedBytes + info.footprintBytes > gpu.memBytes) {
      this.oom++;
      const elsewhere = this.gpus.some((g) => g.replicas.some((r) => r.model === model && !r.draining));
      const q = this.queues.get(model);
      if (!elsewhere && q && q.length > 0) {
        this.reject('oom', q.length);
        this.waitingTotal -= q.length;
        q.length = 0;
      }
      return true;
    }
    const cached = gpu.cache.has(model);
    // A load of a file being staged reads it along with the staging read: it lands when the file
    // is in memory plus a load from the cache, if that is sooner than its own read from disk.
    const stagedAt = gpu.stagedAt.get(model);
    const ownRead = loadMs(this.service, info.sizeBytes, cached);
    const duration = Math.min(ownRead, stagedAt === undefined ? Infinity : stagedAt - this.now + loadMs(this.service, info.sizeBytes, true));
    if (!cached && duration === ownRead) this.pauseStaging(gpu, (info.sizeBytes / this.service.diskBytesPerSec) * 1000);
    gpu.cache.touch(model, info.sizeBytes);
    gpu.hostCached = gpu.cache.entries();
    const perDevice = spread(gpu, info.footprintBytes);
    const replica: Replica = { model, gpuId, state: 'loading', draining: false, footprintBytes: info.footprintBytes, loadStartedAt: this.now, loadedAt: null, lastUsedAt: this.now, active: 0, perDevice, fromCache: cached || duration < ownRead };
    gpu.replicas.push(replica);
    gpu.usedBytes += info.footprintBytes;
    perDevice.forEach((b, i) => (gpu.deviceUsedBytes[i]! += b));
    this.coldLoads++;
    if (cached) this.loadsFromCache++;
    this.events.push(this.now + duration, { kind: 'load_done', gpu, replica });
    return true;
  }

  /** Queues a read of the model's file into the worker's page cache; one already cached or queued is a no-op. */
  private stage(model: string, gpuId: string): boolean {
    const gpu = this.gpus.find((g) => g.id === gpuId);
    const info = this.models.get(model);
    if (!gpu || !info || gpu.state !== 'running') return false;
    if (gpu.cache.has(model) || gpu.staging.includes(model)) return true;
    gpu.diskFreeAt = Math.max(this.now, gpu.diskFreeAt, gpu.diskPausedUntil) + (info.sizeBytes / this.service.diskBytesPerSec) * 1000;
    gpu.staging.push(model);
    gpu.stagedAt.set(model, gpu.diskFreeAt);
    this.events.push(gpu.diskFreeAt, { kind: 'stage_done', gpu, model, bytes: info.sizeBytes });
    return true;
  }

  /**
   * A load reads `readMs` from the host's disk: staging reads stand aside meanwhile (the worker
   * pauses them between chunks while a load reads from disk, worker/host-cache), so every staging
   * read not yet done lands later by the part of that read no earlier load's pause covers.
   */
  private pauseStaging(gpu: Gpu, readMs: number): void {
    const until = this.now + readMs;
    const shift = until - Math.max(this.now, gpu.diskPausedUntil);
    if (shift <= 0) return;
    gpu.diskPausedUntil = until;
    if (gpu.stagedAt.size === 0) return;
    for (const [m, at] of gpu.stagedAt) gpu.stagedAt.set(m, at + shift);
    gpu.diskFreeAt += shift;
  }

  private unload(model: string, gpuId: string): boolean {
    const gpu = this.gpus.find((g) => g.id === gpuId);
    const replica = gpu?.replicas.find((r) => r.model === model);
    if (!gpu || !replica || replica.state !== 'ready') return false;
    if (replica.active > 0) replica.draining = true;
    else this.removeReplica(gpu, replica);
    return true;
  }

  private removeReplica(gpu: Gpu, replica: Replica): void {
    gpu.replicas = gpu.replicas.filter((r) => r !== replica);
    gpu.usedBytes -= replica.footprintBytes;
    replica.perDevice.forEach((b, i) => (gpu.deviceUsedBytes[i]! -= b));
    this.record(gpu);
  }

  /**
   * `desired` workers in `pool`; without a pool, workers in all (added to the first pool with
   * room, in fleet order). Each pool stays within its min and max.
   */
  private scale(desired: number, pool?: string): boolean {
    if (!Number.isFinite(desired)) return false;
    const classes = pool === undefined ? this.fleet : this.fleet.filter((c) => c.pool === pool);
    if (classes.length === 0) return false;
    const inPool = (c: WorkerClass) => this.gpus.filter((g) => g.pool === c.pool).length;
    const lo = Math.max(1, classes.reduce((s, c) => s + c.min, 0));
    const hi = classes.reduce((s, c) => s + c.max, 0);
    const target = Math.max(pool === undefined ? lo : classes[0]!.min, Math.min(hi, Math.round(desired)));
    let count = classes.reduce((s, c) => s + inPool(c), 0);
    for (const c of classes) {
      while (count < target && inPool(c) < c.max) {
        this.addGpu(c, 'starting');
        count++;
      }
    }
    // Only empty workers go, above their pool's minimum; the newest first (a starting one is always empty).
    for (let i = this.gpus.length - 1; i >= 0 && count > target; i--) {
      const g = this.gpus[i]!;
      const c = classes.find((k) => k.pool === g.pool);
      if (!c || g.replicas.length > 0 || inPool(c) <= c.min) continue;
      this.removeGpu(i);
      count--;
    }
    return true;
  }

  /** Removes the named worker if it is empty and its pool stays at or above its minimum. */
  private release(gpuId: string): boolean {
    const i = this.gpus.findIndex((g) => g.id === gpuId);
    const g = this.gpus[i];
    const c = this.fleet.find((k) => k.pool === g?.pool);
    if (!g || !c || g.replicas.length > 0 || this.gpus.filter((x) => x.pool === c.pool).length <= c.min) return false;
    this.removeGpu(i);
    return true;
  }

  private removeGpu(i: number): void {
    const g = this.gpus[i]!;
    this.gpuMs += (this.now - g.provisionedAt) * g.gpuCount;
    this.gpus.splice(i, 1);
    this.timeline.push({ at: this.now, gpu: g.id, resident: 0 });
  }

  private addGpu(c: WorkerClass, state: 'starting' | 'running'): void {
    const index = this.nextGpuIndex++;
    const gpu: Gpu = {
      id: `gpu${index}`,
      index,
      pool: c.pool,
      gpuCount: c.gpusPerWorker,
      gpuMemBytes: c.gpuMemBytes,
      memBytes: workerBytes(c),
      state,
      provisionedAt: this.now,
      replicas: [],
      usedBytes: 0,
      deviceUsedBytes: new Array<number>(c.gpusPerWorker).fill(0),
      hostMemBytes: workerBytes(c) * this.service.hostMemoryFactor,
      cache: new HostPageCache(workerBytes(c) * this.service.hostMemoryFactor),
      hostCached: [],
      staging: [],
      stagedAt: new Map(),
      diskFreeAt: 0,
      diskPausedUntil: 0,
    };
    this.gpus.push(gpu);
    if (state === 'starting') this.events.push(this.now + this.service.gpuStartMs, { kind: 'gpu_ready', gpu });
    else this.record(gpu);
  }

  // ---- bookkeeping -------------------------------------------------------------------

  private record(gpu: Gpu): void {
    this.timeline.push({ at: this.now, gpu: gpu.id, resident: gpu.replicas.filter((r) => r.state === 'ready').length });
  }

  private scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    this.events.push(this.now + this.tickMs, { kind: 'tick' });
  }

  /** Nothing in flight and no progress for a while: the policy will not serve what is left. */
  private stalled(): boolean {
    const inFlight = this.running > 0 || this.gpus.some((g) => g.state === 'starting' || g.replicas.some((r) => r.state === 'loading'));
    if (inFlight || this.arrivalsLeft) return false;
    if (this.waitingTotal === 0) return this.events.size === 0;
    return this.now - this.lastProgress > this.cluster.stallLimitMs;
  }

  private finish(requests: number): SimResult {
    for (const q of this.queues.values()) {
      this.reject('never_served', q.length);
      q.length = 0;
    }
    const endMs = this.lastProgress;
    for (const g of this.gpus) this.gpuMs += Math.max(0, endMs - g.provisionedAt) * g.gpuCount;
    const rejected = Object.values(this.rejectedBy).reduce((s, n) => s + n, 0);
    return {
      policy: this.policy.name,
      requests,
      completed: this.ttft.length,
      ttftMs: [...this.ttft].sort((a, b) => a - b),
      accepted: this.accepted,
      warm: this.warm,
      coldLoads: this.coldLoads,
      loadsFromCache: this.loadsFromCache,
      coldStartMs: [...this.coldStarts].sort((a, b) => a - b),
      coldStartsFromCache: this.coldStartsFromCache,
      coldStartsFirst: this.coldStartsFirst,
      staged: this.staged,
      gpuSeconds: this.gpuMs / 1000,
      oom: this.oom,
      rejected,
      rejectedBy: { ...this.rejectedBy },
      timeline: this.timeline,
      endMs,
      invalidActions: this.invalid,
    };
  }
}

/**
 * Bytes per GPU for a new replica: whole on the fullest GPU that still holds it (keeping room
 * on the others), else split across the GPUs, most free first. The caller checked the total fits.
 */
function spread(gpu: Gpu, bytes: number): number[] {
  const free = gpu.deviceUsedBytes.map((u) => gpu.gpuMemBytes - u);
  const out = new Array<number>(free.length).fill(0);
  const whole = free.map((f, i) => ({ f, i })).filter((d) => d.f >= bytes).sort((a, b) => a.f - b.f || a.i - b.i)[0];
  if (whole) {
    out[whole.i] = bytes;
    return out;
  }
  let left = bytes;
  for (const { f, i } of free.map((f, i) => ({ f, i })).sort((a, b) => b.f - a.f || a.i - b.i)) {
    const take = Math.min(left, Math.max(0, f));
    out[i] = take;
    left -= take;
  }
  return out;
}
