/**
 * A per-step scratch ledger the baselines share: it remembers what this step already decided
 * (bytes freed by unloads, bytes taken by loads, replicas chosen as victims) so one step never
 * double-books memory or evicts a replica twice. It only builds actions; the engine applies them.
 */
import { freeBytes, isIdle, runningGpus, type GpuView, type ReplicaView, type SimAction, type SimView } from './policy.ts';

export class Planner {
  readonly actions: SimAction[] = [];
  private readonly delta = new Map<string, number>();
  private readonly gone = new Set<ReplicaView>();
  private readonly loadingOn = new Set<string>();
  private readonly placed = new Set<string>();

  readonly view: SimView;
  constructor(view: SimView) {
    this.view = view;
  }

  /** Free bytes on `g` after this step's unloads and loads. */
  free(g: GpuView): number {
    return freeBytes(g) + (this.delta.get(g.id) ?? 0);
  }

  /** Replicas on `g` this step has not already chosen to unload. */
  remaining(g: GpuView): ReplicaView[] {
    return g.replicas.filter((r) => !this.gone.has(r));
  }

  /** Idle replicas on `g` still available as victims. */
  idle(g: GpuView): ReplicaView[] {
    return this.remaining(g).filter(isIdle);
  }

  /** True when `g` has a load in flight or one planned in this step. */
  isLoading(g: GpuView): boolean {
    return this.loadingOn.has(g.id) || g.replicas.some((r) => r.state === 'loading');
  }

  unload(r: ReplicaView): void {
    if (this.gone.has(r)) return;
    this.gone.add(r);
    // A busy replica drains: its memory is not free until it finishes, so none is credited.
    if (r.active === 0) this.delta.set(r.gpuId, (this.delta.get(r.gpuId) ?? 0) + r.footprintBytes);
    this.actions.push({ type: 'unload', model: r.model, gpu: r.gpuId });
  }

  load(g: GpuView, model: string): void {
    const fp = this.view.models.get(model)?.footprintBytes ?? 0;
    this.delta.set(g.id, (this.delta.get(g.id) ?? 0) - fp);
    this.loadingOn.add(g.id);
    this.placed.add(model);
    this.actions.push({ type: 'load', model, gpu: g.id });
  }

  /** Whether this step already started a load of `model`. */
  placedNow(model: string): boolean {
    return this.placed.has(model);
  }

  /** Running GPUs without `model`, where `fp` fits now, most free memory first. */
  fitting(model: string, fp: number, ok: (g: GpuView) => boolean = () => true): GpuView[] {
    return runningGpus(this.view)
      .filter((g) => !g.replicas.some((r) => r.model === model) && this.free(g) >= fp && ok(g))
      .sort((a, b) => this.free(b) - this.free(a) || a.index - b.index);
  }

  /**
   * Victims on each running GPU (taken from `order(g)` until `fp` fits), best option first by
   * `better` (default: fewest victims, then most free memory).
   */
  evictionOptions(
    model: string,
    fp: number,
    order: (g: GpuView) => ReplicaView[],
    ok: (g: GpuView) => boolean = () => true,
  ): { gpu: GpuView; victims: ReplicaView[] }[] {
    const out: { gpu: GpuView; victims: ReplicaView[] }[] = [];
    for (const g of runningGpus(this.view)) {
      if (g.memBytes < fp || g.replicas.some((r) => r.model === model) || !ok(g)) continue;
      let free = this.free(g);
      const victims: ReplicaView[] = [];
      for (const r of order(g)) {
        if (free >= fp) break;
        victims.push(r);
        free += r.footprintBytes;
      }
      if (free >= fp) out.push({ gpu: g, victims });
    }
    return out.sort((a, b) => a.victims.length - b.victims.length || this.free(b.gpu) - this.free(a.gpu) || a.gpu.index - b.gpu.index);
  }
}

/** Footprint of a catalog model (0 when unknown, which the engine rejects anyway). */
export function footprint(view: SimView, model: string): number {
  return view.models.get(model)?.footprintBytes ?? 0;
}
