/**
 * A hand-written SVG chart (no dependency): bars of p95 TTFT and of GPU-seconds per policy,
 * and a step chart of ready models per GPU over time for one policy (the fabric's).
 */
import type { TimelinePoint } from './engine.ts';
import type { PolicySummary } from './summary.ts';

const W = 960;
const BAR_H = 260;
const STEP_H = 300;
const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#b83280', '#6b46c1', '#975a16', '#4a5568', '#00838f'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(0)}k` : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));

/** Returns the whole SVG document. */
export function renderChart(rows: readonly PolicySummary[], timeline: readonly TimelinePoint[], timelinePolicy: string, endMs: number): string {
  const half = W / 2;
  const parts = [
    bars('p95 time to first token (ms)', rows.map((r) => [r.policy, r.ttft_ms.p95 ?? 0]), 0, half),
    bars('GPU-seconds', rows.map((r) => [r.policy, r.gpu_seconds]), half, half),
    steps(`Ready models per GPU over time (${timelinePolicy})`, timeline, endMs, BAR_H + 20),
  ];
  const h = BAR_H + 20 + STEP_H;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif" font-size="11">\n<rect width="${W}" height="${h}" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`;
}

function bars(title: string, data: [string, number][], x0: number, width: number): string {
  const left = x0 + 50;
  const top = 30;
  const plotW = width - 70;
  const plotH = BAR_H - 90;
  const max = Math.max(1, ...data.map(([, v]) => v));
  const slot = plotW / Math.max(1, data.length);
  const out = [`<text x="${x0 + width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`];
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`);
  for (let t = 0; t <= 4; t++) {
    const y = top + plotH - (plotH * t) / 4;
    out.push(`<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#eee"/><text x="${left - 4}" y="${y + 4}" text-anchor="end">${fmt((max * t) / 4)}</text>`);
  }
  data.forEach(([label, v], i) => {
    const h = (plotH * v) / max;
    const x = left + i * slot + slot * 0.15;
    out.push(`<rect x="${x.toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${esc(label)}: ${v}</title></rect>`);
    out.push(`<text x="${(x + slot * 0.35).toFixed(1)}" y="${(top + plotH - h - 3).toFixed(1)}" text-anchor="middle">${fmt(v)}</text>`);
    const lx = x + slot * 0.35;
    const ly = top + plotH + 12;
    out.push(`<text x="${lx.toFixed(1)}" y="${ly}" text-anchor="end" transform="rotate(-35 ${lx.toFixed(1)} ${ly})">${esc(label)}</text>`);
  });
  return out.join('\n');
}

function steps(title: string, timeline: readonly TimelinePoint[], endMs: number, y0: number): string {
  const left = 50;
  const top = y0 + 30;
  const plotW = W - 170;
  const plotH = STEP_H - 70;
  const byGpu = new Map<string, TimelinePoint[]>();
  for (const p of timeline) {
    let s = byGpu.get(p.gpu);
    if (!s) byGpu.set(p.gpu, (s = []));
    s.push(p);
  }
  const end = Math.max(endMs, 1, ...timeline.map((p) => p.at));
  const max = Math.max(1, ...timeline.map((p) => p.resident));
  const x = (t: number) => left + (plotW * t) / end;
  const y = (n: number) => top + plotH - (plotH * n) / max;
  const out = [`<text x="${W / 2}" y="${y0 + 18}" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`];
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`);
  for (let n = 0; n <= max; n++) out.push(`<line x1="${left}" y1="${y(n)}" x2="${left + plotW}" y2="${y(n)}" stroke="#eee"/><text x="${left - 4}" y="${y(n) + 4}" text-anchor="end">${n}</text>`);
  for (let t = 0; t <= 6; t++) {
    const at = (end * t) / 6;
    out.push(`<text x="${x(at)}" y="${top + plotH + 14}" text-anchor="middle">${(at / 60_000).toFixed(0)} min</text>`);
  }
  [...byGpu.entries()].forEach(([gpu, pts], i) => {
    const color = COLORS[i % COLORS.length];
    // Offset each GPU's line a little so overlapping steps stay visible.
    const dy = i * 2;
    let d = '';
    let last: TimelinePoint | undefined;
    for (const p of pts) {
      d += last ? ` H${x(p.at).toFixed(1)} V${(y(p.resident) + dy).toFixed(1)}` : `M${x(p.at).toFixed(1)} ${(y(p.resident) + dy).toFixed(1)}`;
      last = p;
    }
    if (last) d += ` H${x(end).toFixed(1)}`;
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    out.push(`<rect x="${left + plotW + 15}" y="${top + i * 16}" width="10" height="10" fill="${color}"/><text x="${left + plotW + 30}" y="${top + i * 16 + 9}">${esc(gpu)}</text>`);
  });
  return out.join('\n');
}
