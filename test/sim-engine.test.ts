import { describe, expect, it } from 'vitest';
import { simulate, type ClusterOptions } from '../sim/engine.ts';
import { parseFleet } from '../sim/model/fleet.ts';
import { createPolicy, POLICY_NAMES } from '../sim/policies/index.ts';
import type { SimPolicy } from '../sim/policies/policy.ts';
import { decodeMs, loadMs, prefillMs, serviceModel } from '../sim/model/service-model.ts';
import type { ModelSpec, TraceRequest } from '../sim/model/trace.ts';

const GiB = 2 ** 30;
const service = serviceModel();
const cluster = (o: Partial<ClusterOptions> = {}): ClusterOptions => ({ gpus: 1, gpuMemBytes: 24 * GiB, maxGpus: 1, tickMs: 2_000, stallLimitMs: 600_000, ...o });
const req = (id: number, arrivalMs: number, model: string, promptTokens = 100, outputTokens = 10): TraceRequest => ({ id, arrivalMs, model, promptTokens, outputTokens });
const small: ModelSpec = { name: 'small', sizeBytes: 4e9 };

describe('simulation engine accounting', () => {
  it('makes the first request cold (TTFT = disk load + prefill) and the second warm (TTFT = prefill)', () => {
    // ttftMs is ascending: the warm one comes first.
    const trace = [req(0, 0, 'small'), req(1, 60_000, 'small')];
    const r = simulate(createPolicy('lru-affinity', trace), trace, [small], cluster(), service);
    const prefill = prefillMs(service, 4e9, 100);
    expect(r.ttftMs[0]).toBeCloseTo(prefill, 6);
    expect(r.ttftMs[1]).toBeCloseTo(loadMs(service, 4e9, false) + prefill, 6);
    expect(loadMs(service, 4e9, false)).toBe(3_500); // 1.5 s init + 4 GB at 2 GB/s
    expect(r).toMatchObject({ requests: 2, completed: 2, accepted: 2, warm: 1, coldLoads: 1, oom: 0, rejected: 0 });
    // One GPU from 0 to the last completion.
    expect(r.endMs).toBeCloseTo(60_000 + prefill + decodeMs(service, 4e9, 10), 6);
    expect(r.gpuSeconds).toBeCloseTo(r.endMs / 1000, 6);
  });

  it('reloads from the host page cache when the model was loaded there recently', () => {
    const trace = [req(0, 0, 'small'), req(1, 60_000, 'small')];
    const r = simulate(createPolicy('keepalive0', trace), trace, [small], cluster(), service);
    const prefill = prefillMs(service, 4e9, 100);
    expect(r.coldLoads).toBe(2);
    expect(r.loadsFromCache).toBe(1);
    expect(r.warm).toBe(0);
    expect(r.ttftMs[0]).toBeCloseTo(loadMs(service, 4e9, true) + prefill, 6); // 2 s: 1.5 s + 4 GB at 8 GB/s
    expect(r.ttftMs[1]).toBeCloseTo(loadMs(service, 4e9, false) + prefill, 6);
  });

  it('pauses a host\'s staging reads while a load reads from its disk: the staged file lands later by that read', () => {
    // Stage big (20 GB: 10 s from disk) and load small from disk (4 GB: 2 s of reading) at 0; big
    // is asked for at 11 s: its staging, paused 2 s, lands at 12 s, and its load waits for it.
    const big: ModelSpec = { name: 'big', sizeBytes: 20e9 };
    const trace = [req(0, 0, 'small'), req(1, 11_000, 'big')];
    const scripted: SimPolicy = {
      name: 'scripted',
      onArrival: (_view, r) =>
        r.model === 'small'
          ? [
              { type: 'stage', model: 'big', gpu: 'gpu0' },
              { type: 'load', model: 'small', gpu: 'gpu0' },
            ]
          : [{ type: 'load', model: 'big', gpu: 'gpu0' }],
    };
    const r = simulate(scripted, trace, [small, big], cluster({ gpuMemBytes: 48 * GiB }), service);
    expect(r).toMatchObject({ staged: 1, coldStartsFromCache: 1, coldStartsFirst: 2 });
    expect(r.coldStartMs).toEqual([loadMs(service, 4e9, false), 12_000 - 11_000 + loadMs(service, 20e9, true)]);
  });

  it('queues requests beyond the replica slots until one frees', () => {
    const trace = Array.from({ length: 5 }, (_, i) => req(i, 0, 'small', 100, 100));
    const r = simulate(createPolicy('lru-affinity', trace), trace, [small], cluster(), service);
    const first = loadMs(service, 4e9, false) + prefillMs(service, 4e9, 100);
    expect(r.ttftMs.slice(0, 4).every((t) => Math.abs(t - first) < 1e-6)).toBe(true);
    expect(r.ttftMs[4]).toBeCloseTo(first + decodeMs(service, 4e9, 100) + prefillMs(service, 4e9, 100), 6);
  });

  it('rejects a model bigger than every GPU at arrival, in every policy, and serves the rest', () => {
    const models = [small, { name: 'huge', sizeBytes: 30e9 }]; // 36 GB footprint > 24 GiB
    const trace = [req(0, 0, 'huge'), req(1, 1_000, 'small'), req(2, 2_000, 'huge'), req(3, 3_000, 'nobody')];
    for (const name of POLICY_NAMES) {
      const r = simulate(createPolicy(name, trace), trace, models, cluster(), service);
      expect(r.rejectedBy, name).toMatchObject({ too_large: 2, unknown_model: 1, oom: 0 });
      expect(r.completed, name).toBe(1);
      expect(r.oom, name).toBe(0);
    }
  });

  it('runs every policy on an empty trace without crashing', () => {
    for (const name of POLICY_NAMES) {
      const r = simulate(createPolicy(name, []), [], [small], cluster({ gpus: 2, maxGpus: 4 }), service);
      expect(r, name).toMatchObject({ requests: 0, completed: 0, rejected: 0, oom: 0, coldLoads: 0 });
    }
  });

  it('adds a GPU only after the start time and counts its GPU-seconds from the scale-up', () => {
    const models = [{ name: 'a', sizeBytes: 15e9 }, { name: 'b', sizeBytes: 15e9 }];
    // Both busy at once: b fits nowhere until fabric's scale-up brings a second GPU (the cost knob
    // at 0 buys one for a blocked cold model at once; priced, b would wait for a's job instead).
    const trace = [req(0, 0, 'a', 100, 4000), req(1, 100, 'b', 100, 10)];
    const r = simulate(createPolicy('fabric', trace, { policy: { scaleWaitMsPerGpuSecond: 0 } }), trace, models, cluster({ maxGpus: 2 }), service);
    expect(r.completed).toBe(2);
    expect(r.ttftMs[1]).toBeGreaterThan(service.gpuStartMs);
    expect(r.gpuSeconds).toBeGreaterThan(r.endMs / 1000);
    expect(r.gpuSeconds).toBeLessThan((2 * r.endMs) / 1000);
  });
});

describe('simulated fleets', () => {
  it('serves an embedding (zero output tokens) with TTFT = prefill and no decode', () => {
    const trace = [req(0, 0, 'small', 100, 10), req(1, 60_000, 'small', 300, 0)];
    const r = simulate(createPolicy('fabric', trace), trace, [small], cluster(), service);
    expect(r.completed).toBe(2);
    expect(r.ttftMs[0]).toBeCloseTo(prefillMs(service, 4e9, 300), 6);
    expect(decodeMs(service, 4e9, 0)).toBe(0);
  });

  it('on 2x24GiB,1x80GiB serves a model only the 80 GiB worker holds, in every policy, with no OOM', () => {
    const models = [small, { name: 'big', sizeBytes: 40e9 }]; // 48 GB footprint: above 24 GiB, under 80
    const trace = [req(0, 0, 'big'), req(1, 1_000, 'small'), req(2, 90_000, 'big'), req(3, 91_000, 'small')];
    for (const name of POLICY_NAMES) {
      const r = simulate(createPolicy(name, trace), trace, models, { fleet: parseFleet('2x24GiB,1x80GiB'), tickMs: 2_000, stallLimitMs: 600_000 }, service);
      expect(r.rejected, name).toBe(0);
      expect(r.oom, name).toBe(0);
      expect(r.completed, name).toBe(4);
    }
  });

  it('splits a model larger than one GPU across a two-GPU worker and counts both GPUs in GPU-seconds', () => {
    const models = [{ name: 'big', sizeBytes: 30e9 }]; // 36 GB: above one 24 GiB GPU, under two
    const trace = [req(0, 0, 'big'), req(1, 5_000, 'big')];
    const fleet = parseFleet('1x2x24GiB');
    expect(fleet[0]).toMatchObject({ count: 1, gpusPerWorker: 2, gpuMemBytes: 24 * GiB, pool: '2x24gib' });
    const r = simulate(createPolicy('fabric', trace), trace, models, { fleet, tickMs: 2_000, stallLimitMs: 600_000 }, service);
    expect(r).toMatchObject({ completed: 2, rejected: 0, oom: 0 });
    expect(r.gpuSeconds).toBeCloseTo((2 * r.endMs) / 1000, 3);
    // On one 24 GiB GPU the same model is too large.
    const single = simulate(createPolicy('fabric', trace), trace, models, cluster(), service);
    expect(single.rejectedBy.too_large).toBe(2);
  });
});
