/**
 * The contract between the simulation engine and a placement policy. The engine owns the
 * world (GPUs, replicas, queues, the clock); a policy only reads it through `SimView` and
 * answers with actions, which the engine validates and applies in order. Policies never
 * mutate the view, so every policy runs against the same engine rules.
 */
import type { WorkerClass } from '../model/fleet.ts';
import type { ServiceModel } from '../model/service-model.ts';
import type { TraceRequest } from '../model/trace.ts';

export interface ReplicaView {
  readonly model: string;
  readonly gpuId: string;
  /** `loading` holds its memory from the start of the load (as a real engine allocates). */
  readonly state: 'loading' | 'ready';
  /** Asked to unload while busy: takes no new requests, unloads when its last one finishes. */
  readonly draining: boolean;
  readonly footprintBytes: number;
  readonly loadStartedAt: number;
  readonly loadedAt: number | null;
  readonly lastUsedAt: number;
  /** Requests running on it now (at most `slotsPerReplica`). */
  readonly active: number;
  /** Bytes it holds on each GPU of its worker (absent: all on the first). */
  readonly perDevice?: readonly number[];
}

/** A worker: one or more GPUs (the name predates multi-GPU workers). */
export interface GpuView {
  readonly id: string;
  readonly index: number;
  /** Its worker class (sim/model/fleet.ts): scale actions name it. */
  readonly pool: string;
  /** GPUs in this worker, each of `gpuMemBytes`. */
  readonly gpuCount: number;
  readonly gpuMemBytes: number;
  /** All its GPUs' memory: a model may be split across them. */
  readonly memBytes: number;
  /** `starting`: provisioned by a scale-up, not yet usable (takes `gpuStartMs`). */
  readonly state: 'starting' | 'running';
  readonly provisionedAt: number;
  readonly replicas: readonly ReplicaView[];
  /** Footprint of every replica on it, loading and draining included. */
  readonly usedBytes: number;
  /** The same, per GPU. */
  readonly deviceUsedBytes: readonly number[];
  /** Its host's memory, which the page cache may fill (absent: none modelled). */
  readonly hostMemBytes?: number;
  /** Model files in its host's page cache, least recently read first. */
  readonly hostCached?: readonly { readonly model: string; readonly bytes: number }[];
  /** Model files being read into its page cache on a `stage` action, in order. */
  readonly staging?: readonly string[];
}

export interface ModelInfo {
  readonly name: string;
  readonly sizeBytes: number;
  readonly footprintBytes: number;
}

export interface QueueView {
  readonly waiting: number;
  readonly oldestArrivalMs: number | null;
}

export interface SimView {
  readonly now: number;
  /** Provisioned GPUs (starting or running), by index; removed ones are gone. */
  readonly gpus: readonly GpuView[];
  readonly models: ReadonlyMap<string, ModelInfo>;
  readonly service: ServiceModel;
  /** Most workers the fleet may hold (every pool at its maximum). */
  readonly maxGpus: number;
  /** The worker classes (pools), with their min and max. */
  readonly fleet: readonly WorkerClass[];
  readonly tickMs: number;
  queue(model: string): QueueView;
  /** Models with at least one waiting request, oldest waiting first. */
  queuedModels(): string[];
  /** Arrival times (ms) of every accepted request for `model` so far, oldest first. */
  arrivals(model: string): readonly number[];
}

export type SimAction =
  | { readonly type: 'load'; readonly model: string; readonly gpu: string }
  | { readonly type: 'unload'; readonly model: string; readonly gpu: string }
  /** Desired workers in `pool` (all pools when absent); the engine clamps it to the pools' min and max. */
  | { readonly type: 'scale'; readonly gpus: number; readonly pool?: string }
  /** Removes this worker, which must be empty (drained), its pool staying at or above its minimum. */
  | { readonly type: 'release'; readonly gpu: string }
  /** Reads the model's file into the worker's host page cache (no GPU memory); reads queue per host. */
  | { readonly type: 'stage'; readonly model: string; readonly gpu: string };

export interface SimPolicy {
  readonly name: string;
  /** Total waiting requests beyond which an arrival is rejected at once (Ollama: 512). */
  readonly maxQueued?: number;
  onArrival?(view: SimView, req: TraceRequest): SimAction[];
  onTick?(view: SimView): SimAction[];
  onLoadDone?(view: SimView, gpuId: string, model: string): SimAction[];
  onRequestDone?(view: SimView, req: TraceRequest, gpuId: string): SimAction[];
}

// ---- helpers shared by policies -------------------------------------------------------

export function freeBytes(g: GpuView): number {
  return g.memBytes - g.usedBytes;
}

/** Every replica of `model`, on any provisioned GPU, loading or ready. */
export function replicasOf(view: SimView, model: string): ReplicaView[] {
  return view.gpus.flatMap((g) => g.replicas.filter((r) => r.model === model));
}

/** True when `model` is resident or loading somewhere (so a load need not be started). */
export function hasReplica(view: SimView, model: string): boolean {
  return view.gpus.some((g) => g.replicas.some((r) => r.model === model && !r.draining));
}

export function runningGpus(view: SimView): GpuView[] {
  return view.gpus.filter((g) => g.state === 'running');
}

/** Ready, idle, not draining: the only replicas a baseline may evict. */
export function isIdle(r: ReplicaView): boolean {
  return r.state === 'ready' && r.active === 0 && !r.draining;
}

/** Models waiting for a replica that has none yet, oldest first. */
export function coldQueuedModels(view: SimView): string[] {
  return view.queuedModels().filter((m) => !hasReplica(view, m));
}

/** Picks evictions on one GPU from `candidates` (in preference order) until `need` bytes are free. */
export function victimsToFit(g: GpuView, candidates: readonly ReplicaView[], need: number, reserved = 0): ReplicaView[] | undefined {
  let free = freeBytes(g) - reserved;
  const victims: ReplicaView[] = [];
  for (const r of candidates) {
    if (free >= need) break;
    victims.push(r);
    free += r.footprintBytes;
  }
  return free >= need ? victims : undefined;
}
