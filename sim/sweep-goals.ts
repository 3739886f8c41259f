/**
 * The scaling issue's goals over a sweep (`npm run sim:sweep`), each from the table's own figures:
 * - autoscaled fleets: the fabric's GPU-seconds at most 0.75x the scaling baseline's
 *   (seed-gateway) at a p95 TTFT no worse than that baseline's;
 * - fixed pools of one GPU class: the geometric mean of the fabric's p95 over the best baseline's
 *   at most 0.8, warm share at least the best baseline's, cold loads within 1.25x the oracle's;
 * - mixed fleets (several worker classes): nothing rejected, no OOM, p95 no worse than the best
 *   baseline's on the same fleet.
 * Ratios are printed to three places so that a figure just over a limit does not read as on it.
 */
import type { WorkerClass } from './model/fleet.ts';
import type { PolicySummary } from './summary.ts';
import { cheapestAtBaselineP95, type Frontier, type FrontierPoint } from './frontier.ts';
import type { GpuFloor } from './gpu-floor.ts';
import { SCALING_ORACLE_ON_ARRIVAL } from './policies/scaling-oracle.ts';

export interface GoalRow {
  readonly scenario: string;
  readonly fleet: readonly WorkerClass[];
  readonly fabric: PolicySummary;
  readonly best: PolicySummary | undefined;
  readonly oracle: PolicySummary | undefined;
  readonly seedGateway: PolicySummary | undefined;
  /** A long-tail scenario: its autoscaling goal is counted apart (every one must meet it). */
  readonly longTail?: boolean;
  readonly frontier?: Frontier;
  readonly gpuFloor?: GpuFloor;
}

/** Some class scales between a minimum and a maximum. */
export const autoscaled = (fleet: readonly WorkerClass[]) => fleet.some((c) => c.min < c.max);
/** Workers of more than one shape (GPU size or GPUs per worker). */
export const mixed = (fleet: readonly WorkerClass[]) => new Set(fleet.map((c) => `${c.gpusPerWorker}x${c.gpuMemBytes}`)).size > 1;

const p95 = (s: PolicySummary | undefined) => s?.ttft_ms.p95 ?? null;
const r3 = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? 'n/a' : (a / b).toFixed(3));

/** One line per goal and one per scenario it covers, as markdown. */
export function sweepGoalsMarkdown(rows: readonly GoalRow[]): string {
  const out: string[] = [];
  const meets = (r: GoalRow) => r.seedGateway !== undefined && r.fabric.gpu_seconds <= 0.75 * r.seedGateway.gpu_seconds && (p95(r.fabric) ?? Infinity) <= (p95(r.seedGateway) ?? -1);
  for (const [label, auto] of [
    ['Autoscaling', rows.filter((r) => autoscaled(r.fleet) && !r.longTail)],
    ['Autoscaling on long tails (every one)', rows.filter((r) => autoscaled(r.fleet) && r.longTail)],
  ] as const) {
    if (auto.length === 0) continue;
    const byOracle = auto.filter((r) => r.frontier?.oracle);
    const count = (kind: OracleKind) => byOracle.filter((r) => oracleMeets(r, kind) !== undefined).length;
    const oracleNote = byOracle.length === 0 ? '' : ` (the scaling oracle, sized in hindsight: met in ${count('scaling-oracle')} of ${byOracle.length} loading models ahead of their requests, ${count(SCALING_ORACLE_ON_ARRIVAL)} of ${byOracle.length} loading on arrival)`;
    out.push(`- ${label}, GPU-seconds <= 0.75x seed-gateway's at a p95 no worse than its own, defaults: met in ${auto.filter(meets).length} of ${auto.length}${oracleNote}.`);
    for (const r of auto) {
      out.push(`  - ${r.scenario}: GPU-s ${r3(r.fabric.gpu_seconds, r.seedGateway?.gpu_seconds ?? null)}x, p95 ${r3(p95(r.fabric), p95(r.seedGateway))}x (${meets(r) ? 'met' : 'not met'})${frontierNote(r)}`);
      if (!meets(r)) out.push(`    - why not met: ${whyMissed(r)}`);
    }
  }
  const settings = oneSettingForAll(rows.filter((r) => autoscaled(r.fleet)));
  if (settings) out.push(`- One fabric setting for every autoscaled scenario (the frontier's), goal met in: ${settings}.`);
  const fixed = rows.filter((r) => !autoscaled(r.fleet) && !mixed(r.fleet) && p95(r.fabric) !== null && p95(r.best) !== null);
  const logs = fixed.map((r) => Math.log(p95(r.fabric)! / p95(r.best)!));
  const geo = logs.length === 0 ? null : Math.exp(logs.reduce((s, x) => s + x, 0) / logs.length);
  const warm = fixed.filter((r) => r.best && r.fabric.warm_ratio >= r.best.warm_ratio);
  const cold = fixed.filter((r) => r.oracle && r.fabric.cold_loads <= 1.25 * r.oracle.cold_loads);
  out.push(`- Fixed pools (${fixed.length}): p95 / best baseline's, geometric mean ${geo === null ? 'n/a' : geo.toFixed(3)} (goal <= 0.8); warm share >= the best baseline's in ${warm.length} of ${fixed.length}; cold loads <= 1.25x the oracle's in ${cold.length} of ${fixed.length}.`);
  const mix = rows.filter((r) => mixed(r.fleet));
  const mixMet = mix.filter((r) => r.fabric.rejected === 0 && r.fabric.oom === 0 && (p95(r.fabric) ?? Infinity) <= (p95(r.best) ?? -1));
  out.push(`- Mixed fleets, nothing rejected, no OOM, p95 no worse than the best baseline's: met in ${mixMet.length} of ${mix.length}.`);
  for (const r of mix) {
    out.push(`  - ${r.scenario}: rejected ${r.fabric.rejected}, OOM ${r.fabric.oom}, p95 ${r3(p95(r.fabric), p95(r.best))}x ${r.best?.policy ?? 'n/a'}'s (${mixMet.includes(r) ? 'met' : 'not met'})`);
  }
  return out.join('\n');
}

/**
 * Whether one default would do: for each of the frontier's settings (no target, each target), in
 * how many autoscaled scenarios that one setting meets the goal; undefined when no frontier ran.
 */
function oneSettingForAll(auto: readonly GoalRow[]): string | undefined {
  const withFrontier = auto.filter((r) => r.frontier);
  if (withFrontier.length === 0) return undefined;
  const labels = [...new Set(withFrontier.flatMap((r) => r.frontier!.fabric.map((p) => p.label)))];
  return labels
    .map((label) => {
      const met = withFrontier.filter((r) => {
        const pt = r.frontier!.fabric.find((p) => p.label === label);
        const sg = r.frontier!.seedGateway;
        return pt !== undefined && pt.p95 !== null && sg.p95 !== null && pt.gpuSeconds <= 0.75 * sg.gpuSeconds && pt.p95 <= sg.p95;
      }).length;
      return `${label} ${met} of ${withFrontier.length}`;
    })
    .join(', ');
}

/** What the latency target reaches on the same trace and fleet: the cheapest point at seed-gateway's p95 or better. */
function frontierNote(r: GoalRow): string {
  if (!r.frontier) return '';
  const best = cheapestAtBaselineP95(r.frontier);
  if (best) return `; frontier: ${best.point.label} reaches its p95 at ${best.gpuRatio.toFixed(3)}x GPU-s${best.gpuRatio <= 0.75 ? ' (goal met at that target)' : ''}`;
  const low = [...r.frontier.fabric].filter((p) => p.p95 !== null).sort((a, b) => (a.p95 as number) - (b.p95 as number))[0];
  return `; frontier: no target reaches its p95 (lowest ${low ? `${r3(low.p95, p95(r.seedGateway))}x, ${low.label}, at ${r3(low.gpuSeconds, r.seedGateway?.gpu_seconds ?? null)}x GPU-s` : 'n/a'})`;
}

type OracleKind = 'scaling-oracle' | typeof SCALING_ORACLE_ON_ARRIVAL;

/** The scaling oracle's points of one kind (with prefetch, or loading on arrival). */
export function oraclePoints(f: Frontier | undefined, kind: OracleKind): FrontierPoint[] {
  return (f?.oracle ?? []).filter((p) => p.policy === kind);
}

/** The scaling oracle's cheapest point of `kind` at seed-gateway's p95 or better, when it is within 0.75x the GPU-seconds. */
function oracleMeets(r: GoalRow, kind: OracleKind) {
  const reach = r.frontier ? cheapestAtBaselineP95(r.frontier, oraclePoints(r.frontier, kind)) : undefined;
  return reach && reach.gpuRatio <= 0.75 ? reach : undefined;
}

/**
 * Why an autoscaled scenario misses the cost goal, from the same run's figures: whether 0.75x
 * seed-gateway's GPU-seconds lies above the floor no policy can go below (sim/gpu-floor.ts), what
 * the best latency target reaches, and what the scaling oracle (hindsight fleet size and
 * placement, sim/policies/scaling-oracle.ts) reaches on the same trace and fleet. Without its
 * points, the oracle's eviction on the fleet's starting size stands in (it never scales).
 */
export function whyMissed(r: GoalRow): string {
  const sg = r.seedGateway;
  if (!sg) return 'no seed-gateway run to compare with';
  const parts: string[] = [];
  const goal = 0.75 * sg.gpu_seconds;
  if (r.gpuFloor) {
    const f = r.gpuFloor;
    const within = f.floorGpuSeconds <= goal;
    parts.push(
      `GPU-s floor ${r3(f.floorGpuSeconds, sg.gpu_seconds)}x (minimum pool ${r3(f.minPoolGpuSeconds, sg.gpu_seconds)}x, work ${r3(f.workGpuSeconds, sg.gpu_seconds)}x), ` +
        (within ? 'so 0.75x is not ruled out by the trace and fleet' : 'above 0.75x: out of reach for any policy on this trace and fleet'),
    );
  }
  const reach = r.frontier ? cheapestAtBaselineP95(r.frontier) : undefined;
  if (r.frontier) parts.push(reach ? `the cheapest setting at seed-gateway's p95 (${reach.point.label}) costs ${reach.gpuRatio.toFixed(3)}x` : "no setting reaches seed-gateway's p95");
  if (r.frontier?.oracle) parts.push(oracleWhy(r.frontier, sg));
  else if (r.oracle) {
    const o = r.oracle;
    const start = r.fleet.reduce((s, c) => s + c.count * c.gpusPerWorker, 0);
    const oracleOk = o.gpu_seconds <= goal && (p95(o) ?? Infinity) <= (p95(sg) ?? -1);
    parts.push(`the oracle fixed at the starting ${start} GPUs: GPU-s ${r3(o.gpu_seconds, sg.gpu_seconds)}x at p95 ${r3(p95(o), p95(sg))}x (${oracleOk ? 'meets the goal, so a placement policy can' : 'misses too'})`);
  }
  return parts.join('; ');
}

/**
 * What the scaling oracle's points say: whether it meets the goal loading models ahead of their
 * requests, and whether it still does loading them on arrival, as an online policy must; with
 * its nearest points where it misses.
 */
function oracleWhy(f: Frontier, sg: PolicySummary): string {
  const at = (p: FrontierPoint) => `${p.label}: GPU-s ${r3(p.gpuSeconds, sg.gpu_seconds)}x at p95 ${r3(p.p95, p95(sg))}x`;
  const reach = (kind: OracleKind) => cheapestAtBaselineP95(f, oraclePoints(f, kind));
  const nearest = (kind: OracleKind) => {
    const r = reach(kind);
    const within = oraclePoints(f, kind).filter((p) => p.gpuSeconds <= 0.75 * sg.gpu_seconds && p.p95 !== null).sort((a, b) => (a.p95 as number) - (b.p95 as number))[0];
    return [r ? `cheapest at seed-gateway's p95 ${at(r.point)}` : "no point at seed-gateway's p95", within ? `best p95 within 0.75x ${at(within)}` : 'no point within 0.75x'].join(', ');
  };
  const ahead = reach('scaling-oracle');
  const onArrival = reach(SCALING_ORACLE_ON_ARRIVAL);
  if (onArrival && onArrival.gpuRatio <= 0.75) return `the scaling oracle meets it even loading on arrival (${at(onArrival.point)}): hindsight sizing and eviction alone reach the goal, so the fabric's online rule falls short`;
  if (ahead && ahead.gpuRatio <= 0.75)
    return `the scaling oracle meets it only loading models ahead of their requests (${at(ahead.point)}); loading on arrival, as the fabric must, it misses (${nearest(SCALING_ORACLE_ON_ARRIVAL)})`;
  return `the scaling oracle misses too (ahead of requests: ${nearest('scaling-oracle')}; on arrival: ${nearest(SCALING_ORACLE_ON_ARRIVAL)})`;
}
