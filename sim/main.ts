/**
 * `npm run sim`: runs the fabric's real `decide()` and the baselines on the same trace and
 * cluster and prints the comparison (markdown, or JSON with --json); --report DIR writes
 * report.md and chart.svg. See sim/engine.ts for the rules and sim/model/service-model.ts for the
 * service model.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSimArgs, UsageError } from './cli.ts';
import { goalsMarkdown, checkGoals, markdownTable, writeReport } from './report.ts';
import { describeFleet } from './model/fleet.ts';
import { compare, loadWorkload } from './run.ts';
import { formatTraceCsv } from './model/trace.ts';
import { frontier, frontierMarkdown, frontierSvg, FRONTIER_TARGETS_MS } from './frontier.ts';

function main(argv: string[]): number {
  const o = parseSimArgs(argv);
  const w = loadWorkload(o);
  for (const p of w.problems) process.stderr.write(`skipped ${p}\n`);
  if (o.saveTrace) {
    mkdirSync(o.saveTrace, { recursive: true });
    writeFileSync(join(o.saveTrace, 'trace.csv'), formatTraceCsv(w.trace));
    writeFileSync(join(o.saveTrace, 'models.json'), JSON.stringify(w.models.map((m) => ({ name: m.name, size_bytes: m.sizeBytes })), null, 2) + '\n');
  }
  const started = Date.now();
  const { results, rows, cluster, service } = compare(o, w);
  // The runs already made are reused: the fabric's only when it ran without a target.
  const fabric = o.targetP95Ms === undefined ? rows.find((r) => r.policy === 'fabric') : undefined;
  const seedGateway = rows.find((r) => r.policy === 'seed-gateway');
  const front = o.frontier ? frontier(w.trace, w.models, cluster, service, FRONTIER_TARGETS_MS, { ...(fabric ? { fabric } : {}), ...(seedGateway ? { seedGateway } : {}) }) : undefined;
  if (o.json) {
    process.stdout.write(JSON.stringify({ policies: rows, ...(front ? { frontier: front } : {}) }) + '\n');
  } else {
    process.stdout.write(`${setupLine(o, w)}\n\n${markdownTable(rows, results)}\n\n${goalsMarkdown(checkGoals(rows))}\n`);
    if (front) process.stdout.write(`\nFrontier (GPU-seconds against p95 for the latency target):\n\n${frontierMarkdown(front)}\n`);
    process.stdout.write(`\n(simulated in ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  }
  if (o.reportDir) {
    const command = `npm run sim -- ${argv.join(' ')}`.trim();
    const paths = writeReport(o.reportDir, { rows, results, command, setup: setupLine(o, w) });
    if (front) {
      writeFileSync(join(o.reportDir, 'frontier.svg'), frontierSvg(front, 'GPU-seconds against p95 TTFT'));
      paths.push(join(o.reportDir, 'frontier.svg'));
    }
    process.stderr.write(`report written: ${paths.join(', ')}\n`);
  }
  return 0;
}

function setupLine(o: ReturnType<typeof parseSimArgs>, w: ReturnType<typeof loadWorkload>): string {
  const source = w.generated ? `generated trace (seed ${o.seed}, ${o.durationMin} min)` : `trace ${o.trace}`;
  const lastMs = w.trace.at(-1)?.arrivalMs ?? 0;
  return `${source}: ${w.trace.length} requests over ${(lastMs / 60_000).toFixed(0)} min, ${w.models.length} models; fleet ${describeFleet(o.fleet)}, tick ${o.tickMs} ms.`;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${err instanceof UsageError ? err.message : (err as Error).stack ?? String(err)}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
}
