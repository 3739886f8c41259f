/**
 * The decision's working copy of each placement target: usable memory under the shared VRAM
 * rule (protocol/vram-rule.ts), what each worker hosts, and which of its models may be evicted
 * at what expected cost. Mutated only inside one `decide` call.
 */
import { footprintOf, usableBytes } from '../protocol/vram-rule.ts';
import type { Heartbeat, ResidentModelInfo } from '../protocol/worker-state.ts';
import { expectedRequests, reloadMs } from './demand.ts';
import { loadMsOn } from './host-tier.ts';
import type { SchedulerPolicy } from './policy.ts';
import type { Snapshot } from './snapshot.ts';

/** An evictable resident model and what evicting it is expected to cost. */
export interface Victim {
  readonly model: string;
  /** Bytes its unload frees: the footprint measured at its load. */
  readonly bytes: number;
  /** Requests expected within the demand horizon x estimated reload time, in ms. */
  readonly cost: number;
  /** Estimated reload time, in ms. */
  readonly reloadMs: number;
  readonly lastUsedAt: number;
  /** Loaded less than `minResidencyMs` ago: only a cold backlog may evict it (see `isEvictable`). */
  readonly young: boolean;
  /**
   * An idle extra replica of a model busy on another worker (see `isSpareReplica`): only a cold
   * backlog that has waited at least its reload time may evict it.
   */
  readonly spare?: boolean;
}

export interface WorkerLedger {
  readonly worker: Heartbeat;
  /** Usable bytes (free less reservations and headroom) less what this decision booked here. */
  free: number;
  /**
   * The same per GPU (each GPU's free less its share of headroom, reservations taken from the
   * GPUs with most free first); one entry for a worker that reports no GPUs. A model larger than
   * any one entry is split across them, as Ollama and llama.cpp split layers.
   */
  readonly gpuFree: number[];
  /** Total memory of the worker (its GPUs together): its class, for placement order. */
  readonly capacity: number;
  /** Models resident, loading or planned to load here (victims chosen in this decision removed). */
  readonly hosts: Set<string>;
  /** Evictable models (young ones flagged), cheapest per byte freed first. */
  evictable: Victim[];
}

/** Ledgers of the workers a load may target: running, engine healthy. */
export function buildLedgers(snap: Snapshot, policy: SchedulerPolicy): WorkerLedger[] {
  return snap.workers.filter((w) => w.state === 'running' && w.engineHealthy !== false).map((w) => ledgerFor(w, snap, policy));
}

function ledgerFor(w: Heartbeat, snap: Snapshot, policy: SchedulerPolicy): WorkerLedger {
  // A commanded load the worker has not admitted yet reserves nothing; count it at its footprint.
  const reservedOf = (l: Heartbeat['loading'][number]) => Math.max(l.reservedBytes ?? 0, footprintOf(snap, l.model, w.engine).bytes);
  const free = usableBytes(w, reservedOf);
  return {
    worker: w,
    free,
    gpuFree: perGpuFree(w, w.headroomRatio, w.loading.reduce((s, l) => s + reservedOf(l), 0), free),
    capacity: workerCapacity(w),
    hosts: new Set([...w.resident.map((m) => m.model), ...w.loading.map((l) => l.model)]),
    evictable: w.resident
      .filter((m) => isEvictable(m, snap, policy, true) || isSpareReplica(m, w, snap, policy))
      .map((m) => (isEvictable(m, snap, policy, true) ? victimOf(m, snap, policy, w) : { ...victimOf(m, snap, policy, w), spare: true }))
      .sort((a, b) => a.cost / a.bytes - b.cost / b.bytes || a.lastUsedAt - b.lastUsedAt || a.model.localeCompare(b.model)),
  };
}

/** Usable bytes per GPU; their sum never exceeds the worker's `free` (the one VRAM rule). */
function perGpuFree(w: Heartbeat, headroomRatio: number, reserved: number, free: number): number[] {
  if (w.gpus.length === 0) return [free];
  const out = w.gpus.map((g) => g.memoryFreeBytes - headroomRatio * g.memoryTotalBytes);
  let left = reserved;
  for (const i of out.map((_, i) => i).sort((a, b) => out[b]! - out[a]!)) {
    const take = Math.min(left, Math.max(0, out[i]!));
    out[i]! -= take;
    left -= take;
  }
  return out.map((b) => Math.floor(Math.max(0, b)));
}

/** Total memory of a worker: its GPUs together (a split model may use all of them). */
export function workerCapacity(w: Heartbeat): number {
  return w.gpus.length > 0 ? w.gpus.reduce((s, g) => s + g.memoryTotalBytes, 0) : w.capacityBytes;
}

/**
 * Idle, unpinned, no job of its own waiting or running, and past its minimum residency unless
 * `young` allows it. The queue's active count is read fresh each decision; a heartbeat's
 * `activeJobs` may predate a job that just started, so both must be zero.
 */
export function isEvictable(m: ResidentModelInfo, snap: Snapshot, policy: SchedulerPolicy, young = false): boolean {
  return (
    m.activeJobs === 0 &&
    !policy.pinned.has(m.model) &&
    (young || !isYoung(m, snap, policy)) &&
    (snap.queues.get(m.model)?.waiting ?? 0) === 0 &&
    (snap.queues.get(m.model)?.active ?? 0) === 0
  );
}

/**
 * An extra replica idle on its worker while its model is busy elsewhere and nothing of it waits:
 * its model stays served without it. Left out of `isEvictable` (whose model-wide activity check
 * guards against a stale heartbeat), it may still go for a cold backlog: a busy model's second
 * copy holding the only GPU class that fits a waiting model starved that model until the busy
 * one went idle (sim mixed fleet, seed 6).
 */
export function isSpareReplica(m: ResidentModelInfo, w: Heartbeat, snap: Snapshot, policy: SchedulerPolicy): boolean {
  if (m.activeJobs > 0 || policy.pinned.has(m.model) || (snap.queues.get(m.model)?.waiting ?? 0) > 0) return false;
  return snap.workers.some((o) => o !== w && o.state === 'running' && o.resident.some((r) => r.model === m.model));
}

/** Loaded less than `minResidencyMs` ago. */
export function isYoung(m: ResidentModelInfo, snap: Snapshot, policy: SchedulerPolicy): boolean {
  return snap.now - m.loadedAt < policy.minResidencyMs;
}

/**
 * What evicting `m` from worker `w` is expected to cost: its expected requests x its reload time,
 * from where its weights fall (host-tier.ts: the page cache when `w` holds its file, else disk).
 * Without `w` (the worker itself goes away), from disk.
 */
export function victimOf(m: ResidentModelInfo, snap: Snapshot, policy: SchedulerPolicy, w?: Heartbeat): Victim {
  const p = expectedRequests(snap.arrivals?.get(m.model), m.lastUsedAt, snap.now, policy.demandHorizonMs, policy.histogramMinSamples);
  // A zero-byte victim frees nothing; one byte keeps the per-byte ranking finite.
  const bytes = Math.max(1, m.sizeBytes);
  const reload = w ? loadMsOn(snap, policy, w, m.model, bytes) : reloadMs(bytes, policy.loadBytesPerSec, policy.loadFixedMs);
  return { model: m.model, bytes, cost: p * reload, reloadMs: reload, lastUsedAt: m.lastUsedAt, young: isYoung(m, snap, policy) };
}

/** Bytes `model` needs on this ledger's worker (measured footprint, else estimate, else size). */
export function needOn(snap: Snapshot, model: string, l: WorkerLedger): number {
  return footprintOf(snap, model, l.worker.engine).bytes;
}

/** Exhaustive search up to this many candidates (2^12 subsets); greedy by cost per byte above. */
const EXACT_LIMIT = 12;

export interface EvictionPlan {
  readonly victims: Victim[];
  readonly cost: number;
}

/**
 * The set of victims on this worker with the lowest total expected cost whose unloads free at
 * least `deficit` bytes (ties: fewer victims, then fewer bytes freed); undefined if none does.
 * Only for a cold backlog (`cold`, how long its oldest job has waited) are young victims (within
 * the minimum residency) candidates, and spare replicas once that wait reaches their reload time:
 * waiting on longer than a reload would cost is worse than reloading the replica later.
 */
export function cheapestEviction(l: WorkerLedger, deficit: number, cold?: { readonly waitedMs: number }): EvictionPlan | undefined {
  const c = l.evictable.filter((v) => (cold ? !v.spare || cold.waitedMs >= v.reloadMs : !v.young && !v.spare));
  if (c.reduce((s, v) => s + v.bytes, 0) < deficit) return undefined;
  if (c.length > EXACT_LIMIT) return greedyEviction(c, deficit);
  let best: { mask: number; cost: number; n: number; bytes: number } | undefined;
  for (let mask = 1; mask < 1 << c.length; mask++) {
    let cost = 0;
    let bytes = 0;
    let n = 0;
    for (let i = 0; i < c.length; i++) {
      if (!(mask & (1 << i))) continue;
      cost += c[i]!.cost;
      bytes += c[i]!.bytes;
      n++;
    }
    if (bytes < deficit) continue;
    if (!best || cost < best.cost - 1e-9 || (Math.abs(cost - best.cost) <= 1e-9 && (n < best.n || (n === best.n && bytes < best.bytes)))) best = { mask, cost, n, bytes };
  }
  if (!best) return undefined;
  const mask = best.mask;
  return { victims: c.filter((_, i) => mask & (1 << i)), cost: best.cost };
}

/** Cheapest per byte first until enough is freed, then drops any victim no longer needed. */
function greedyEviction(c: Victim[], deficit: number): EvictionPlan {
  const picked: Victim[] = [];
  let freed = 0;
  for (const v of c) {
    if (freed >= deficit) break;
    picked.push(v);
    freed += v.bytes;
  }
  for (let i = picked.length - 1; i >= 0; i--) {
    if (freed - picked[i]!.bytes >= deficit) freed -= picked.splice(i, 1)[0]!.bytes;
  }
  return { victims: picked, cost: picked.reduce((s, v) => s + v.cost, 0) };
}

/**
 * Whether `bytes` fit on this worker now: within its usable total and within its GPUs' usable
 * memory together (each GPU keeps its own headroom).
 */
export function fitsOn(l: WorkerLedger, bytes: number): boolean {
  return bytes <= l.free && bytes <= l.gpuFree.reduce((s, b) => s + b, 0);
}

/**
 * Where a load of `bytes` goes on the worker's GPUs: whole on the GPU with the least usable
 * memory that holds it (keeping the roomier GPUs for larger models), else split across them,
 * most usable first. Returns bytes per GPU; the caller checked `fitsOn`.
 */
export function gpuShares(l: WorkerLedger, bytes: number): number[] {
  const order = l.gpuFree.map((f, i) => ({ f, i }));
  const out = new Array<number>(l.gpuFree.length).fill(0);
  const whole = order.filter((d) => d.f >= bytes).sort((a, b) => a.f - b.f || a.i - b.i)[0];
  if (whole) {
    out[whole.i] = bytes;
    return out;
  }
  let left = bytes;
  for (const { f, i } of order.sort((a, b) => b.f - a.f || a.i - b.i)) {
    out[i] = Math.min(left, f);
    left -= out[i]!;
  }
  return out;
}

/** Books unloads of `victims` on the ledger: their bytes become free, they stop being hosted or evictable. */
export function bookUnloads(l: WorkerLedger, victims: readonly Victim[]): void {
  for (const v of victims) {
    l.free += v.bytes;
    l.hosts.delete(v.model);
    // Which GPUs it occupied is not reported; credit the fullest first (an even split would do as well).
    creditGpus(l, v.bytes);
  }
  const gone = new Set(victims.map((v) => v.model));
  l.evictable = l.evictable.filter((v) => !gone.has(v.model));
}

/** Books a load of `model` needing `bytes`; returns the bytes it takes on each GPU. */
export function bookLoad(l: WorkerLedger, model: string, bytes: number): number[] {
  const shares = gpuShares(l, bytes);
  shares.forEach((b, i) => (l.gpuFree[i]! -= b));
  l.free -= bytes;
  l.hosts.add(model);
  return shares;
}

function creditGpus(l: WorkerLedger, bytes: number): void {
  const caps = l.worker.gpus.length > 0 ? l.worker.gpus.map((g) => g.memoryTotalBytes) : [l.worker.capacityBytes];
  let left = bytes;
  for (const i of l.gpuFree.map((_, i) => i).sort((a, b) => l.gpuFree[a]! - l.gpuFree[b]!)) {
    const take = Math.min(left, Math.max(0, (caps[i] ?? 0) - l.gpuFree[i]!));
    l.gpuFree[i]! += take;
    left -= take;
  }
  if (left > 0) l.gpuFree[0]! += left;
}
