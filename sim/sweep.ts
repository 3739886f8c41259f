/**
 * `npm run sim:sweep`: the comparison of `npm run sim` over many workloads and clusters at once,
 * one line per scenario, so a policy change is judged on every shape rather than tuned to one:
 * seeds 1-5 of the default generator on a fixed pool of 2 and of 3 GPUs and with autoscaling,
 * plus generator shapes the defaults never produce (more, larger models on larger GPUs; a flat
 * popularity; a small pool). Each line gives the fabric's figures against the best baseline and
 * the oracle, the goals met, and the "floor": the fabric's p95 with every model resident
 * (unlimited GPU memory, same GPUs), which no placement policy can beat.
 * `--report FILE` also writes the table as markdown.
 */
import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { simulate, type ClusterOptions } from './engine.ts';
import { parseFleet, uniformFleet, type WorkerClass } from './model/fleet.ts';
import { generateModels, generateTrace, GENERATE_DEFAULTS, type GenerateOptions } from './generate.ts';
import { createPolicy, isBaseline, POLICY_NAMES } from './policies/index.ts';
import { checkGoals } from './report.ts';
import { autoscaled, oraclePoints, sweepGoalsMarkdown } from './sweep-goals.ts';
import { SCALING_ORACLE_ON_ARRIVAL, SCALING_ORACLE_SETTINGS } from './policies/scaling-oracle.ts';
import { cheapestAtBaselineP95, frontier, frontierMarkdown, oracleFrontier, frontierSvg, FRONTIER_TARGETS_MS, scaleToZero, scaleToZeroMarkdown, LOW_RATE, type Frontier } from './frontier.ts';
import { footprintBytes, serviceModel } from './model/service-model.ts';
import { gpuSecondsFloor, type GpuFloor } from './gpu-floor.ts';
import { summarize, type PolicySummary } from './summary.ts';

const GiB = 2 ** 30;

export interface Scenario {
  readonly name: string;
  readonly generate: Partial<GenerateOptions>;
  readonly fleet: readonly WorkerClass[];
  /** One of the long-tail scenarios (many models, some larger than one GPU). */
  readonly longTail?: boolean;
}

const fixed = (gpus: number, gib: number) => uniformFleet(gpus, gib * GiB, gpus);

export function sweepScenarios(): Scenario[] {
  const out: Scenario[] = [];
  for (const seed of [1, 2, 3, 4, 5]) out.push({ name: `seed ${seed}, 2 x 48 GiB`, generate: { seed }, fleet: fixed(2, 48) });
  for (const seed of [1, 2, 3, 4, 5]) out.push({ name: `seed ${seed}, 3 x 48 GiB`, generate: { seed }, fleet: fixed(3, 48) });
  for (const seed of [1, 3]) out.push({ name: `seed ${seed}, 2-4 x 48 GiB autoscaling`, generate: { seed }, fleet: uniformFleet(2, 48 * GiB, 4) });
  out.push({ name: 'seed 6, 20 models 1-70 GB, 4 x 80 GiB', generate: { seed: 6, models: 20, maxModelBytes: 70e9, meanRatePerSec: 1 }, fleet: fixed(4, 80) });
  out.push({ name: 'seed 7, flat popularity (s 0.6), 2 x 48 GiB', generate: { seed: 7, zipfS: 0.6 }, fleet: fixed(2, 48) });
  out.push({ name: 'seed 8, 8 models 1-20 GB, 1 x 24 GiB', generate: { seed: 8, models: 8, maxModelBytes: 20e9, meanRatePerSec: 0.3 }, fleet: fixed(1, 24) });
  // A daily cycle whose off-peak is a third of its peak (amplitude 0.5), 4 h, autoscaling 1-8 from 4.
  for (const [seed, rate] of [[1, 1], [2, 0.5], [3, 1]] as const) {
    out.push({ name: `seed ${seed}, daily cycle ${rate} req/s, 4 h, 1-8 x 48 GiB autoscaling`, generate: { seed, meanRatePerSec: rate, durationMs: 4 * 3_600_000, dailyAmplitude: 0.5 }, fleet: uniformFleet(4, 48 * GiB, 8) });
  }
  // Mixed fleets: models larger than the small GPUs (up to 70 GB), some larger than any one GPU.
  out.push({ name: 'seed 6, 20 models 1-70 GB, 0.4 req/s, 2 x 24 GiB + 2 x 80 GiB', generate: { seed: 6, models: 20, maxModelBytes: 70e9, meanRatePerSec: 0.4 }, fleet: parseFleet('2x24GiB,2x80GiB') });
  out.push({ name: 'seed 9, 16 models 1-70 GB, 0.3 req/s, 2 x 24 GiB + 1 x 2 x 48 GiB', generate: { seed: 9, models: 16, maxModelBytes: 70e9, meanRatePerSec: 0.3 }, fleet: parseFleet('2x24GiB,1x2x48GiB') });
  out.push({ name: 'seed 10, daily cycle 0.4 req/s, 16 models 1-60 GB, 2-4 x 24 GiB + 1-2 x 80 GiB', generate: { seed: 10, models: 16, maxModelBytes: 60e9, meanRatePerSec: 0.4, durationMs: 4 * 3_600_000, dailyAmplitude: 0.5 }, fleet: parseFleet('2-4x24GiB,1-2x80GiB') });
  out.push(...longTailScenarios());
  return out;
}

/**
 * Long tails: 30-60 models of 1-30 GB (those above 21.5 GB, a footprint over 24 GiB, need two
 * GPUs), Zipf s 0.8-1.2, 1.5 req/s for 2 h, with and without the daily cycle, two seeds each; 24
 * GiB GPUs autoscaled between 1 and 8 from 4, beside a pool of two-GPU workers that scales from
 * zero (0-2) for the models no single GPU holds.
 */
export function longTailScenarios(): Scenario[] {
  const fleet = [...uniformFleet(4, 24 * GiB, 8), ...parseFleet('0-2x2x24GiB')];
  const shapes = [
    { seeds: [11, 12], models: 30, zipfS: 0.8, daily: true },
    { seeds: [13, 14], models: 45, zipfS: 1.0, daily: false },
    { seeds: [15, 16], models: 60, zipfS: 1.2, daily: true },
  ];
  return shapes.flatMap(({ seeds, models, zipfS, daily }) =>
    seeds.map((seed) => ({
      name: `long tail: seed ${seed}, ${models} models 1-30 GB, s ${zipfS}, ${daily ? 'daily cycle' : 'flat'}, 1-8 x 24 GiB + 0-2 x 2 x 24 GiB`,
      generate: { seed, models, zipfS, maxModelBytes: 30e9, meanRatePerSec: 1.5, durationMs: 2 * 3_600_000, dailyAmplitude: daily ? 0.5 : 0 },
      fleet,
      longTail: true,
    })),
  );
}

export interface SweepRow {
  readonly scenario: string;
  readonly fleet: readonly WorkerClass[];
  readonly requests: number;
  readonly fabric: PolicySummary;
  readonly best: PolicySummary | undefined;
  readonly oracle: PolicySummary | undefined;
  /** The scaling baseline: the seed article's gateway on the same fleet. */
  readonly seedGateway: PolicySummary | undefined;
  readonly floorP95: number | null;
  readonly goalsMet: number;
  readonly goals: number;
  readonly longTail: boolean;
  /** Autoscaled fleets: the fabric at each latency target beside seed-gateway (sim/frontier.ts). */
  readonly frontier?: Frontier;
  /** Autoscaled fleets: the GPU-seconds no policy can go below on this trace and fleet (sim/gpu-floor.ts). */
  readonly gpuFloor?: GpuFloor;
}

export function runScenario(s: Scenario): SweepRow {
  const o = { ...GENERATE_DEFAULTS, ...s.generate };
  const models = generateModels(o);
  const trace = generateTrace(models, o);
  const service = serviceModel();
  const cluster: ClusterOptions = { fleet: s.fleet, tickMs: 2_000, stallLimitMs: 30 * 60_000 };
  // The scaling oracle runs at its own settings on autoscaled fleets only (its frontier below).
  const rows = POLICY_NAMES.filter((name) => name !== 'scaling-oracle').map((name) => summarize(simulate(createPolicy(name, trace), trace, models, cluster, service)));
  const fabric = rows.find((r) => r.policy === 'fabric')!;
  const best = rows
    .filter((r) => isBaseline(r.policy) && r.oom === 0 && r.ttft_ms.p95 !== null)
    .sort((a, b) => (a.ttft_ms.p95 as number) - (b.ttft_ms.p95 as number))[0];
  // Every model resident: one GPU's memory holds them all, so only queueing and prefill remain.
  const everything = models.reduce((sum, m) => sum + footprintBytes(service, m.sizeBytes), 0);
  const roomy = s.fleet.map((c) => ({ ...c, gpuMemBytes: Math.max(everything, c.gpuMemBytes) }));
  const floor = summarize(simulate(createPolicy('fabric', trace), trace, models, { ...cluster, fleet: roomy }, service));
  const checks = checkGoals(rows);
  const seedGateway = rows.find((r) => r.policy === 'seed-gateway');
  const knobs = autoscaled(s.fleet)
    ? { ...frontier(trace, models, cluster, service, FRONTIER_TARGETS_MS, { fabric, ...(seedGateway ? { seedGateway } : {}) }), oracle: oracleFrontier(trace, models, cluster, service) }
    : undefined;
  return {
    scenario: s.name,
    fleet: s.fleet,
    requests: trace.length,
    fabric,
    best,
    oracle: rows.find((r) => r.policy === 'oracle'),
    seedGateway: rows.find((r) => r.policy === 'seed-gateway'),
    floorP95: floor.ttft_ms.p95,
    goalsMet: checks.filter((c) => c.met).length,
    goals: checks.length,
    longTail: s.longTail === true,
    ...(knobs ? { frontier: knobs, gpuFloor: gpuSecondsFloor(trace, models, s.fleet, service) } : {}),
  };
}

const n = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toLocaleString('en-US'));
const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(x * 100).toFixed(1)}%`);
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a == null || b == null || b === 0 ? 'n/a' : (a / b).toFixed(2));

export function sweepMarkdown(rows: readonly SweepRow[]): string {
  const head =
    '| scenario | requests | fabric p95 (ms) | best baseline p95 (ms) | ratio | floor p95 (ms) | fabric warm | oracle warm | fabric cold loads | / oracle | fabric GPU-s | its GPU-s | / seed-gateway GPU-s (its p95 ms) | cheapest setting at seed-gateway p95, GPU-s / seed-gateway | scaling oracle at seed-gateway p95, GPU-s / seed-gateway (ahead / on arrival) | GPU-s floor / seed-gateway | rejected (fabric) | goals met |';
  const sep = '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const body = rows.map((r) => {
    const best = r.best ? `${n(r.best.ttft_ms.p95)} (${r.best.policy})` : 'n/a';
    const reach = r.frontier ? cheapestAtBaselineP95(r.frontier) : undefined;
    const setting = !r.frontier ? '-' : reach ? reach.gpuRatio.toFixed(2) : 'none';
    const oracleAt = (kind: 'scaling-oracle' | typeof SCALING_ORACLE_ON_ARRIVAL) => {
      const reach = r.frontier ? cheapestAtBaselineP95(r.frontier, oraclePoints(r.frontier, kind)) : undefined;
      return reach ? reach.gpuRatio.toFixed(2) : 'none';
    };
    const oracle = !r.frontier?.oracle ? '-' : `${oracleAt('scaling-oracle')} / ${oracleAt(SCALING_ORACLE_ON_ARRIVAL)}`;
    const floor = r.gpuFloor ? ratio(r.gpuFloor.floorGpuSeconds, r.seedGateway?.gpu_seconds) : '-';
    return `| ${r.scenario} | ${r.requests} | ${n(r.fabric.ttft_ms.p95)} | ${best} | ${ratio(r.fabric.ttft_ms.p95, r.best?.ttft_ms.p95)} | ${n(r.floorP95)} | ${pct(r.fabric.warm_ratio)} | ${pct(r.oracle?.warm_ratio)} | ${r.fabric.cold_loads} | ${ratio(r.fabric.cold_loads, r.oracle?.cold_loads)} | ${n(r.fabric.gpu_seconds)} | ${n(r.best?.gpu_seconds)} | ${ratio(r.fabric.gpu_seconds, r.seedGateway?.gpu_seconds)} (${n(r.seedGateway?.ttft_ms.p95)}) | ${setting} | ${oracle} | ${floor} | ${r.fabric.rejected} | ${r.goalsMet}/${r.goals} |`;
  });
  return [head, sep, ...body].join('\n');
}

function main(argv: string[]): number {
  const { values } = parseArgs({ args: argv, strict: true, options: { report: { type: 'string' }, only: { type: 'string' } } });
  const started = Date.now();
  const rows: SweepRow[] = [];
  // `--only TEXT`: the scenarios whose name contains TEXT (a quick look; the report is for the full sweep).
  for (const s of sweepScenarios().filter((x) => values.only === undefined || x.name.includes(values.only))) {
    rows.push(runScenario(s));
    process.stderr.write(`done: ${s.name}\n`);
  }
  const table = sweepMarkdown(rows);
  const goals = sweepGoalsMarkdown(rows);
  // The frontier in full for the first long-tail scenario (every autoscaled one has its own in the goals).
  const shown = rows.find((r) => r.longTail && r.frontier);
  const front = shown?.frontier ? `Frontier, ${shown.scenario}:\n\n${frontierMarkdown(shown.frontier)}` : '';
  const zero = scaleToZero(serviceModel());
  const zeroMd = scaleToZeroMarkdown(zero);
  process.stdout.write(`${table}\n\n${goals}\n\n${front}\n\n${zeroMd}\n\n(simulated in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  if (values.report) {
    const md = [
      '# Simulator sweep',
      '',
      `Command: \`npm run sim:sweep -- ${argv.join(' ')}\``,
      '',
      'Every policy on every scenario (sim/sweep.ts); "best baseline" is the non-oracle baseline with',
      'the lowest p95 TTFT that caused no OOM; ratio < 1 means the fabric is faster. "Floor" is the',
      "fabric's p95 with every model resident at once (unlimited memory on the same GPUs): queueing and",
      'prefill only, a bound for any placement policy. Goals met: of the goals `npm run sim` checks',
      '(p95 <= half the best baseline, warm >= 97%, zero OOM, GPU-seconds <= the lowest baseline\'s,',
      'cold loads <= 1.25x the oracle). For autoscaled fleets three more columns say how far the cost',
      "goal is from reach: the cheapest latency-target setting (the frontier below) at seed-gateway's",
      "p95 or better, its GPU-seconds over seed-gateway's (\"none\" when no setting reaches that p95); the",
      "same for the scaling oracle (below), loading models ahead of their requests / on arrival; and",
      'the GPU-seconds floor no policy can go below on the same trace and fleet (sim/gpu-floor.ts): the',
      "larger of the minimum pool's GPU-seconds and the requests' service time at each one's share of a",
      "replica's GPU memory (one of its slots). Below the goals, each missed autoscaled scenario says why.",
      '',
      table,
      '',
      'Goals of the scaling work (sim/sweep-goals.ts): autoscaled fleets against the scaling baseline,',
      'fixed pools of one GPU class against the best baseline and the oracle, mixed fleets against the',
      'best baseline on the same fleet.',
      '',
      goals,
      '',
      '## Frontier: GPU-seconds against p95 for the latency target',
      '',
      'The fabric with `FABRIC_TARGET_P95_MS` at each of ' + FRONTIER_TARGETS_MS.map((t) => `${t / 1000} s`).join(', ') + ' and with none (the cost',
      "knob's default), beside seed-gateway's single point and the scaling oracle's settings (below), on",
      'the same trace and fleet (sim/frontier.ts).',
      "For every autoscaled scenario the goals above name the cheapest point at seed-gateway's p95 or",
      'better; in full, for one long-tail scenario' + (shown ? ` (${shown.scenario}):` : ':'),
      '',
      shown?.frontier ? frontierMarkdown(shown.frontier) : '(no long-tail scenario ran)',
      '',
      '![GPU-seconds against p95 TTFT: the fabric at each latency target, seed-gateway, the scaling oracle, the goal corner](frontier.svg)',
      '',
      '## Scaling oracle',
      '',
      'What autoscaling could reach on the same trace and fleet, sized in hindsight',
      '(sim/policies/scaling-oracle.ts, sim/policies/fleet-plan.ts). A heuristic reference, not a proven',
      "optimum: a model is live from its load before a request (its load time from disk plus 4 s) until",
      "`keep` after the request's service; each pool holds its live models packed first-fit decreasing",
      "onto its workers at `fill` of their memory (above 1: fewer workers than the live models take, so",
      'the placement evicts), the most it needs in the next GPU start, bought that far ahead, so no',
      "request waits on a GPU start; queued and running models keep their place. A live model takes as",
      'many replicas as its requests in service need slots, and gets another when its queue outgrows',
      "them. Placement is the oracle's (Belady: evict the idle model needed furthest in the future).",
      '`scaling-oracle` also loads each model before its next request (prefetch, which needs to know',
      'when that request comes); `scaling-oracle-on-arrival` loads a model only once a request for it',
      'waits, as an online policy must. Settings:',
      SCALING_ORACLE_SETTINGS.map((o) => `keep ${o.keepMs / 1000} s, fill ${o.fill}`).join('; ') + '.',
      "Its points are in the frontier table above; each missed goal's \"why\" names the cheapest one at",
      "seed-gateway's p95 and the best p95 within 0.75x its GPU-seconds.",
      '',
      '## Scale to zero',
      '',
      `A pool whose minimum is 0 against one whose minimum is 1, on a low-rate trace (${zero.requests} requests over ${(LOW_RATE.durationMs ?? 0) / 3_600_000} h,`,
      `${LOW_RATE.models} models, no bursts; sim/frontier.ts \`LOW_RATE\`). At 0 the first job after an idle spell waits for a`,
      'GPU to start (60 s in the service model) and its model to load: the scale rule prices that wait',
      '(a model no live worker holds has no other way), and the p95 shows it.',
      '',
      zeroMd,
      '',
    ].join('\n');
    writeFileSync(values.report, md);
    if (shown?.frontier) {
      const svgPath = join(dirname(values.report), 'frontier.svg');
      writeFileSync(svgPath, frontierSvg(shown.frontier, `GPU-seconds against p95 TTFT: ${shown.scenario.replace(/, 1-8 x.*$/, '')}`));
      process.stderr.write(`frontier chart written: ${svgPath}\n`);
    }
    process.stderr.write(`report written: ${values.report}\n`);
  }
  return 0;
}

// Exactly this file: sim/tier-sweep.ts, which imports it, also ends in `sweep.ts`.
if (process.argv[1] !== undefined && basename(process.argv[1]) === 'sweep.ts') {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
