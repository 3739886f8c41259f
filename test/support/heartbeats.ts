/** Builders for heartbeats and resident models in scheduler tests (pure snapshots and Redis). */
import { DEFAULT_VRAM_HEADROOM } from '../../protocol/vram-rule.ts';
import type { Heartbeat, ResidentModelInfo } from '../../protocol/worker-state.ts';

/** A running, healthy worker of the fake engine with `capacityBytes`; `o` overrides any field. */
export function heartbeatOf(workerId: string, capacityBytes: number, now: number, o: Partial<Heartbeat> = {}): Heartbeat {
  const resident = o.resident ?? [];
  return {
    workerId,
    engine: 'fake',
    host: 'h',
    pid: 1,
    state: 'running',
    startedAt: 0,
    at: now,
    capacityBytes,
    usedBytes: resident.reduce((s, m) => s + m.sizeBytes, 0),
    gpus: [],
    slotsPerModel: 1,
    loading: [],
    activeJobs: 0,
    freeSlots: 0,
    engineHealthy: true,
    headroomRatio: DEFAULT_VRAM_HEADROOM,
    lastUsedAt: now,
    ...o,
    resident,
  };
}

/** A resident model of `sizeBytes` (measured = estimated), loaded and used at the given times. */
export function residentOf(model: string, sizeBytes: number, loadedAt: number, lastUsedAt: number, o: Partial<ResidentModelInfo> = {}): ResidentModelInfo {
  return { model, sizeBytes, sizeVramBytes: sizeBytes, estimatedBytes: sizeBytes, loadedAt, lastUsedAt, activeJobs: 0, ...o };
}
