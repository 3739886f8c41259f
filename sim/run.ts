/** One comparison: load or generate the workload, run every policy on it, summarize. */
import { readFileSync } from 'node:fs';
import type { SimCliOptions } from './cli.ts';
import { simulate, type ClusterOptions, type SimResult } from './engine.ts';
import { generateModels, generateTrace, GENERATE_DEFAULTS } from './generate.ts';
import { createPolicy } from './policies/index.ts';
import { serviceModel, type ServiceModel } from './model/service-model.ts';
import { summarize, type PolicySummary } from './summary.ts';
import { parseModelsJson, parseTraceCsv, type ModelSpec, type ParseProblem, type TraceRequest } from './model/trace.ts';

export interface Workload {
  readonly trace: TraceRequest[];
  readonly models: ModelSpec[];
  /** Bad lines of the input files, with file name and line number; they were skipped. */
  readonly problems: string[];
  readonly generated: boolean;
}

/** Reads the trace and models files, or generates both from the seed. */
export function loadWorkload(o: SimCliOptions): Workload {
  const problems: string[] = [];
  const note = (file: string, ps: ParseProblem[]) => ps.forEach((p) => problems.push(`${file}:${p.line}: ${p.message}`));
  let models: ModelSpec[];
  if (o.models) {
    const parsed = parseModelsJson(readFileSync(o.models, 'utf8'));
    note(o.models, parsed.problems);
    models = parsed.items;
  } else {
    models = generateModels({ ...GENERATE_DEFAULTS, seed: o.seed });
  }
  if (o.trace) {
    const parsed = parseTraceCsv(readFileSync(o.trace, 'utf8'));
    note(o.trace, parsed.problems);
    return { trace: parsed.items, models, problems, generated: false };
  }
  const trace = generateTrace(models, {
    seed: o.seed,
    durationMs: o.durationMin * 60_000,
    ...(o.rate ? { meanRatePerSec: o.rate } : {}),
    ...(o.dailyAmplitude !== undefined ? { dailyAmplitude: o.dailyAmplitude } : {}),
  });
  return { trace, models, problems, generated: true };
}

export interface Comparison {
  readonly results: SimResult[];
  readonly rows: PolicySummary[];
  readonly cluster: ClusterOptions;
  readonly service: ServiceModel;
}

/** Runs each policy in `o.policies` on the same workload and cluster. */
export function compare(o: SimCliOptions, w: Pick<Workload, 'trace' | 'models'>): Comparison {
  const service = serviceModel(o.gpuStartMs === undefined ? {} : { gpuStartMs: o.gpuStartMs });
  const cluster: ClusterOptions = { fleet: o.fleet, tickMs: o.tickMs, stallLimitMs: 30 * 60_000 };
  const knobs = { ...(o.costWeight === undefined ? {} : { scaleWaitMsPerGpuSecond: o.costWeight }), ...(o.targetP95Ms === undefined ? {} : { targetP95Ms: o.targetP95Ms }) };
  const fabric = Object.keys(knobs).length === 0 ? {} : { policy: knobs };
  const results = o.policies.map((name) => simulate(createPolicy(name, w.trace, fabric), w.trace, w.models, cluster, service));
  return { results, rows: results.map(summarize), cluster, service };
}
