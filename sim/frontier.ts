/**
 * The operator's trade, measured: the fabric's GPU-seconds against its p95 TTFT for a sweep of
 * the latency target (`targetP95Ms`, FABRIC_TARGET_P95_MS) on one trace and fleet, beside the
 * cost knob's default (no target) and seed-gateway's single point, as a table and an SVG; and
 * scale to zero (a pool at minimum 0 against minimum 1) on a low-rate trace.
 */
import { simulate, type ClusterOptions } from './engine.ts';
import { generateModels, generateTrace, GENERATE_DEFAULTS, type GenerateOptions } from './generate.ts';
import type { WorkerClass } from './model/fleet.ts';
import type { ServiceModel } from './model/service-model.ts';
import type { ModelSpec, TraceRequest } from './model/trace.ts';
import { createPolicy } from './policies/index.ts';
import { scalingOraclePolicy, SCALING_ORACLE_SETTINGS, type ScalingOracleOptions } from './policies/scaling-oracle.ts';
import { summarize, type PolicySummary } from './summary.ts';

/** Latency targets the frontier sweeps (ms of p95 wait). */
export const FRONTIER_TARGETS_MS = [1_000, 2_000, 4_000, 8_000, 16_000] as const;

export interface FrontierPoint {
  /** `target 2000 ms`, `cost knob (no target)` or `seed-gateway`. */
  readonly label: string;
  readonly targetP95Ms: number | null;
  readonly gpuSeconds: number;
  readonly p95: number | null;
  readonly policy: string;
}

export interface Frontier {
  /** The fabric's points: the cost knob's default first, then each target ascending. */
  readonly fabric: FrontierPoint[];
  readonly seedGateway: FrontierPoint;
  /** The scaling oracle's points (sim/policies/scaling-oracle.ts), when it ran: with prefetch (`scaling-oracle`) and loading on arrival. */
  readonly oracle?: FrontierPoint[];
}

const point = (label: string, targetP95Ms: number | null, s: PolicySummary): FrontierPoint => ({ label, targetP95Ms, gpuSeconds: s.gpu_seconds, p95: s.ttft_ms.p95, policy: s.policy });

/** Runs the fabric at each target (and without one) and seed-gateway once, on the same trace and cluster. */
export function frontier(
  trace: readonly TraceRequest[],
  models: readonly ModelSpec[],
  cluster: ClusterOptions,
  service: ServiceModel,
  targets: readonly number[] = FRONTIER_TARGETS_MS,
  known: { fabric?: PolicySummary; seedGateway?: PolicySummary } = {},
): Frontier {
  const run = (targetP95Ms?: number) =>
    summarize(simulate(createPolicy('fabric', trace, targetP95Ms === undefined ? {} : { policy: { targetP95Ms } }), trace, models, cluster, service));
  const fabric = [point('cost knob (no target)', null, known.fabric ?? run())];
  for (const t of targets) fabric.push(point(`target ${t.toLocaleString('en-US')} ms`, t, run(t)));
  const sg = known.seedGateway ?? summarize(simulate(createPolicy('seed-gateway', trace), trace, models, cluster, service));
  return { fabric, seedGateway: point('seed-gateway', null, sg) };
}

/** The scaling oracle at each setting on the same trace and cluster, with prefetch and then loading on arrival. */
export function oracleFrontier(
  trace: readonly TraceRequest[],
  models: readonly ModelSpec[],
  cluster: ClusterOptions,
  service: ServiceModel,
  settings: readonly Pick<ScalingOracleOptions, 'keepMs' | 'fill'>[] = SCALING_ORACLE_SETTINGS,
): FrontierPoint[] {
  return [true, false].flatMap((prefetch) =>
    settings.map((s) => point(`keep ${s.keepMs / 1000} s, fill ${s.fill}`, null, summarize(simulate(scalingOraclePolicy(trace, { ...s, prefetch }), trace, models, cluster, service)))),
  );
}

/** The cheapest of `points` (the fabric's unless named) at a p95 no worse than seed-gateway's, with its GPU-seconds ratio; undefined when none is. */
export function cheapestAtBaselineP95(f: Frontier, points: readonly FrontierPoint[] = f.fabric): { point: FrontierPoint; gpuRatio: number } | undefined {
  const limit = f.seedGateway.p95 ?? -1;
  const ok = points.filter((p) => p.p95 !== null && p.p95 <= limit).sort((a, b) => a.gpuSeconds - b.gpuSeconds)[0];
  return ok && f.seedGateway.gpuSeconds > 0 ? { point: ok, gpuRatio: ok.gpuSeconds / f.seedGateway.gpuSeconds } : undefined;
}

const n = (x: number | null) => (x === null ? 'n/a' : x.toLocaleString('en-US'));

/** The frontier as a markdown table, ratios against seed-gateway's point. */
export function frontierMarkdown(f: Frontier): string {
  const sg = f.seedGateway;
  const r = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? 'n/a' : (a / b).toFixed(3));
  const rows = [...f.fabric, sg, ...(f.oracle ?? [])].map((p) => `| ${p.policy === 'seed-gateway' ? p.label : `${p.policy}, ${p.label}`} | ${n(p.gpuSeconds)} | ${n(p.p95)} | ${r(p.gpuSeconds, sg.gpuSeconds)} | ${r(p.p95, sg.p95)} |`);
  return ['| point | GPU-s | p95 TTFT (ms) | GPU-s / seed-gateway | p95 / seed-gateway |', '|---|---:|---:|---:|---:|', ...rows].join('\n');
}

/** The frontier as an SVG scatter: GPU-seconds (x) against p95 (y), the fabric's curve and seed-gateway's point. */
export function frontierSvg(f: Frontier, title: string): string {
  const W = 640;
  const H = 360;
  const left = 70;
  const top = 40;
  const plotW = W - left - 170;
  const plotH = H - top - 50;
  const pts = [...f.fabric, f.seedGateway, ...(f.oracle ?? [])].filter((p) => p.p95 !== null);
  const maxX = Math.max(1, ...pts.map((p) => p.gpuSeconds)) * 1.05;
  const maxY = Math.max(1, ...pts.map((p) => p.p95 as number)) * 1.1;
  const x = (v: number) => left + (plotW * v) / maxX;
  const y = (v: number) => top + plotH - (plotH * v) / maxY;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const out = [`<text x="${W / 2}" y="20" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`];
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/><line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`);
  for (let t = 0; t <= 4; t++) {
    const vx = (maxX * t) / 4;
    const vy = (maxY * t) / 4;
    out.push(`<text x="${x(vx).toFixed(1)}" y="${top + plotH + 14}" text-anchor="middle">${Math.round(vx / 1000)}k</text>`);
    out.push(`<line x1="${left}" y1="${y(vy).toFixed(1)}" x2="${left + plotW}" y2="${y(vy).toFixed(1)}" stroke="#eee"/><text x="${left - 4}" y="${(y(vy) + 4).toFixed(1)}" text-anchor="end">${(vy / 1000).toFixed(1)} s</text>`);
  }
  out.push(`<text x="${left + plotW / 2}" y="${H - 8}" text-anchor="middle">GPU-seconds</text><text x="14" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 14 ${top + plotH / 2})">p95 TTFT</text>`);
  const fab = f.fabric.filter((p) => p.p95 !== null).sort((a, b) => a.gpuSeconds - b.gpuSeconds);
  out.push(`<path d="${fab.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.gpuSeconds).toFixed(1)} ${y(p.p95 as number).toFixed(1)}`).join(' ')}" fill="none" stroke="#2b6cb0" stroke-width="1.5"/>`);
  for (const p of fab) {
    out.push(`<circle cx="${x(p.gpuSeconds).toFixed(1)}" cy="${y(p.p95 as number).toFixed(1)}" r="4" fill="#2b6cb0"><title>${esc(p.label)}: ${n(p.gpuSeconds)} GPU-s, p95 ${n(p.p95)} ms</title></circle>`);
    out.push(`<text x="${(x(p.gpuSeconds) + 6).toFixed(1)}" y="${(y(p.p95 as number) - 6).toFixed(1)}" font-size="9">${esc(p.targetP95Ms === null ? 'no target' : `${p.targetP95Ms / 1000} s`)}</text>`);
  }
  const triangle = (px: number, py: number) => `M${px.toFixed(1)} ${(py - 5).toFixed(1)} L${(px + 5).toFixed(1)} ${(py + 4).toFixed(1)} L${(px - 5).toFixed(1)} ${(py + 4).toFixed(1)} Z`;
  // The scaling oracle: filled with prefetch, hollow loading on arrival.
  for (const p of (f.oracle ?? []).filter((q) => q.p95 !== null)) {
    const fill = p.policy === 'scaling-oracle' ? 'fill="#805ad5"' : 'fill="none" stroke="#805ad5"';
    out.push(`<path d="${triangle(x(p.gpuSeconds), y(p.p95 as number))}" ${fill}><title>${esc(p.policy)}, ${esc(p.label)}: ${n(p.gpuSeconds)} GPU-s, p95 ${n(p.p95)} ms</title></path>`);
  }
  const sg = f.seedGateway;
  if (sg.p95 !== null) {
    out.push(`<rect x="${(x(sg.gpuSeconds) - 5).toFixed(1)}" y="${(y(sg.p95) - 5).toFixed(1)}" width="10" height="10" fill="#c05621"><title>seed-gateway: ${n(sg.gpuSeconds)} GPU-s, p95 ${n(sg.p95)} ms</title></rect>`);
    // The goal's corner: at most 0.75x its GPU-seconds at a p95 no worse.
    out.push(`<rect x="${left}" y="${y(sg.p95).toFixed(1)}" width="${(x(0.75 * sg.gpuSeconds) - left).toFixed(1)}" height="${(top + plotH - y(sg.p95)).toFixed(1)}" fill="#2f855a" fill-opacity="0.08" stroke="#2f855a" stroke-dasharray="4 3"/>`);
  }
  const lx = left + plotW + 15;
  out.push(`<circle cx="${lx + 5}" cy="${top + 5}" r="4" fill="#2b6cb0"/><text x="${lx + 14}" y="${top + 9}">fabric (latency target)</text>`);
  out.push(`<rect x="${lx}" y="${top + 16}" width="10" height="10" fill="#c05621"/><text x="${lx + 14}" y="${top + 25}">seed-gateway</text>`);
  out.push(`<rect x="${lx}" y="${top + 32}" width="10" height="10" fill="#2f855a" fill-opacity="0.2" stroke="#2f855a"/><text x="${lx + 14}" y="${top + 41}">goal: &lt;= 0.75x GPU-s,</text><text x="${lx + 14}" y="${top + 53}">p95 no worse</text>`);
  if (f.oracle?.length) {
    out.push(`<path d="${triangle(lx + 5, top + 67)}" fill="#805ad5"/><text x="${lx + 14}" y="${top + 71}">scaling oracle (hindsight)</text>`);
    out.push(`<path d="${triangle(lx + 5, top + 83)}" fill="none" stroke="#805ad5"/><text x="${lx + 14}" y="${top + 87}">the same, loading on arrival</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">\n<rect width="${W}" height="${H}" fill="#fff"/>\n${out.join('\n')}\n</svg>\n`;
}

/** The low-rate trace scale to zero is measured on: 4 models, about one request every 8 min, 8 h, no bursts. */
export const LOW_RATE: Partial<GenerateOptions> = Object.freeze({ seed: 1, models: 4, maxModelBytes: 16e9, meanRatePerSec: 0.002, durationMs: 8 * 3_600_000, burstsPerHour: 0, dailyAmplitude: 0.6 });

export interface ScaleToZeroRow {
  readonly label: string;
  readonly summary: PolicySummary;
}

/** The fabric on one 24 GiB pool of 0-2 workers and of 1-2 workers, and seed-gateway on 1-2, on the low-rate trace. */
export function scaleToZero(service: ServiceModel, gib = 24): { requests: number; rows: ScaleToZeroRow[] } {
  const o = { ...GENERATE_DEFAULTS, ...LOW_RATE };
  const models = generateModels(o);
  const trace = generateTrace(models, o);
  const pool = (min: number): WorkerClass[] => [{ pool: 'default', count: min, min, max: 2, gpusPerWorker: 1, gpuMemBytes: gib * 2 ** 30 }];
  const cluster = (min: number): ClusterOptions => ({ fleet: pool(min), tickMs: 2_000, stallLimitMs: 30 * 60_000 });
  const run = (name: 'fabric' | 'seed-gateway', min: number) => summarize(simulate(createPolicy(name, trace), trace, models, cluster(min), service));
  return {
    requests: trace.length,
    rows: [
      { label: 'fabric, min 0 (scale to zero)', summary: run('fabric', 0) },
      { label: 'fabric, min 1', summary: run('fabric', 1) },
      { label: 'seed-gateway, min 1', summary: run('seed-gateway', 1) },
    ],
  };
}

export function scaleToZeroMarkdown(r: { requests: number; rows: readonly ScaleToZeroRow[] }): string {
  const head = '| fleet (0-2 or 1-2 x 24 GiB) | requests | p50 TTFT (ms) | p95 TTFT (ms) | p99 TTFT (ms) | cold loads | GPU-s | rejected |';
  const body = r.rows.map(({ label, summary: s }) => `| ${label} | ${r.requests} | ${n(s.ttft_ms.p50)} | ${n(s.ttft_ms.p95)} | ${n(s.ttft_ms.p99)} | ${s.cold_loads} | ${n(s.gpu_seconds)} | ${s.rejected} |`);
  return [head, '|---|---:|---:|---:|---:|---:|---:|---:|', ...body].join('\n');
}
