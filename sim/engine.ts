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
 * - A model whose footprint exceeds every GPU's memory is rejected at arrival (`too_large`).
 * - Unloading a busy replica drains it first; unloading a loading replica is ignored.
 * - Scale-ups add GPUs that run after `gpuStartMs`; scale-downs remove only empty GPUs.
 *   GPU-seconds count every provisioned GPU from its provisioning to its removal or the end.
 * - Each GPU is its own host: its page cache holds models it loaded within `pageCacheTtlMs`.
 * - Requests still queued when the run stalls (no arrivals left, nothing in flight, no
 *   progress for `stallLimitMs`) are rejected as `never_served`.
 */
import { EventQueue } from './event-queue.js';
import type { GpuView, ModelInfo, QueueView, ReplicaView, SimAction, SimPolicy, SimView } from './policy.js';
import { decodeMs, footprintBytes, loadMs, prefillMs, type ServiceModel } from './service-model.js';
import type { ModelSpec, TraceRequest } from './trace.js';

export interface ClusterOptions {
  readonly gpus: number;
  readonly gpuMemBytes: number;
  readonly maxGpus: number;
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
}

interface Gpu extends GpuView {
  state: 'starting' | 'running';
  replicas: Replica[];
  usedBytes: number;
}

type SimEvent =
  | { kind: 'load_done'; gpu: Gpu; replica: Replica }
  | { kind: 'request_done'; gpu: Gpu; replica: Replica; req: TraceRequest }
  | { kind: 'gpu_ready'; gpu: Gpu }
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
  readonly tickMs: number;
  private readonly events = new EventQueue<SimEvent>();
  private readonly queues = new Map<string, TraceRequest[]>();
  private readonly arrivalLog = new Map<string, number[]>();
  private readonly pageCache = new Map<string, number>(); // `${gpu}\0${model}` -> last load start
  private readonly timeline: TimelinePoint[] = [];
  private readonly ttft: number[] = [];
  private readonly rejectedBy: Record<RejectReason, number> = { too_large: 0, unknown_model: 0, queue_full: 0, oom: 0, never_served: 0 };
  private nextGpuIndex = 0;
  private gpuMs = 0;
  private waitingTotal = 0;
  private running = 0;
  private accepted = 0;
  private warm = 0;
  private coldLoads = 0;
  private loadsFromCache = 0;
  private oom = 0;
  private invalid = 0;
  private lastProgress = 0;
  private tickScheduled = false;
  private arrivalsLeft = false;

  constructor(
    private readonly policy: SimPolicy,
    models: readonly ModelSpec[],
    private readonly cluster: ClusterOptions,
    readonly service: ServiceModel,
  ) {
    this.models = new Map(models.map((m) => [m.name, { name: m.name, sizeBytes: m.sizeBytes, footprintBytes: footprintBytes(service, m.sizeBytes) }]));
    this.maxGpus = Math.max(cluster.maxGpus, cluster.gpus, 1);
    this.tickMs = cluster.tickMs;
    for (let i = 0; i < Math.max(cluster.gpus, 1); i++) this.addGpu('running');
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
    if (info.footprintBytes > this.cluster.gpuMemBytes) return this.reject('too_large');
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
      const ok = a.type === 'scale' ? this.scale(a.gpus) : a.type === 'load' ? this.load(a.model, a.gpu) : this.unload(a.model, a.gpu);
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
    const key = `${gpu.id}\0${model}`;
    const cached = this.now - (this.pageCache.get(key) ?? -Infinity) <= this.service.pageCacheTtlMs;
    this.pageCache.set(key, this.now);
    const replica: Replica = { model, gpuId, state: 'loading', draining: false, footprintBytes: info.footprintBytes, loadStartedAt: this.now, loadedAt: null, lastUsedAt: this.now, active: 0 };
    gpu.replicas.push(replica);
    gpu.usedBytes += info.footprintBytes;
    this.coldLoads++;
    if (cached) this.loadsFromCache++;
    this.events.push(this.now + loadMs(this.service, info.sizeBytes, cached), { kind: 'load_done', gpu, replica });
    return true;
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
    this.record(gpu);
  }

  private scale(desired: number): boolean {
    if (!Number.isFinite(desired)) return false;
    const target = Math.max(1, Math.min(this.maxGpus, Math.round(desired)));
    while (this.gpus.length < target) this.addGpu('starting');
    // Only empty GPUs go; the newest first (a starting one is always empty).
    for (let i = this.gpus.length - 1; i >= 0 && this.gpus.length > target; i--) {
      const g = this.gpus[i]!;
      if (g.replicas.length > 0) continue;
      this.gpuMs += this.now - g.provisionedAt;
      this.gpus.splice(i, 1);
      this.timeline.push({ at: this.now, gpu: g.id, resident: 0 });
    }
    return true;
  }

  private addGpu(state: 'starting' | 'running'): void {
    const index = this.nextGpuIndex++;
    const gpu: Gpu = { id: `gpu${index}`, index, memBytes: this.cluster.gpuMemBytes, state, provisionedAt: this.now, replicas: [], usedBytes: 0 };
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
    for (const g of this.gpus) this.gpuMs += Math.max(0, endMs - g.provisionedAt);
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
