/**
 * A floor under the GPU-seconds any policy spends on one trace and fleet, so that a missed cost
 * goal can be told apart from an impossible one:
 * - the minimum pool: every class keeps `min` workers (each of `gpusPerWorker` GPUs) from the
 *   start until the last request arrives;
 * - the work: each request holds one of its replica's `slotsPerReplica` slots for its prefill and
 *   decode, and the replica holds its footprint of GPU memory meanwhile, so a request needs at
 *   least service time x footprint / (slots x GPU memory) GPU-seconds, on the class whose GPUs
 *   are the largest that can hold the model (loads, idle residency and start-up are left out).
 * Both run on the same GPUs, so the floor is the larger of the two, not their sum.
 */
import { workerBytes, type WorkerClass } from './model/fleet.ts';
import { decodeMs, footprintBytes, prefillMs, type ServiceModel } from './model/service-model.ts';
import type { ModelSpec, TraceRequest } from './model/trace.ts';

export interface GpuFloor {
  /** GPU-seconds of the minimum pool from 0 to the last arrival. */
  readonly minPoolGpuSeconds: number;
  /** GPU-seconds of the requests' service, each at its share of a replica's GPU memory. */
  readonly workGpuSeconds: number;
  /** max(minimum pool, work): no policy on this trace and fleet spends less. */
  readonly floorGpuSeconds: number;
}

export function gpuSecondsFloor(trace: readonly TraceRequest[], models: readonly ModelSpec[], fleet: readonly WorkerClass[], service: ServiceModel): GpuFloor {
  const sizes = new Map(models.map((m) => [m.name, m.sizeBytes]));
  const lastArrivalMs = trace.reduce((t, r) => Math.max(t, r.arrivalMs), 0);
  const minPoolGpuSeconds = (fleet.reduce((s, c) => s + c.min * c.gpusPerWorker, 0) * lastArrivalMs) / 1000;
  // GPU share per byte-second of footprint: the largest GPU of a class whose worker holds the model.
  const perGpuBytes = new Map<string, number>();
  let workGpuSeconds = 0;
  for (const r of trace) {
    const size = sizes.get(r.model);
    if (size === undefined) continue;
    const fp = footprintBytes(service, size);
    let gpuBytes = perGpuBytes.get(r.model);
    if (gpuBytes === undefined) {
      gpuBytes = Math.max(0, ...fleet.filter((c) => workerBytes(c) >= fp).map((c) => c.gpuMemBytes));
      perGpuBytes.set(r.model, gpuBytes);
    }
    if (gpuBytes === 0) continue; // no worker holds it: it is rejected, not served
    const serviceMs = prefillMs(service, size, r.promptTokens) + decodeMs(service, size, r.outputTokens);
    workGpuSeconds += ((serviceMs / 1000) * fp) / (service.slotsPerReplica * gpuBytes);
  }
  return { minPoolGpuSeconds, workGpuSeconds, floorGpuSeconds: Math.max(minPoolGpuSeconds, workGpuSeconds) };
}
