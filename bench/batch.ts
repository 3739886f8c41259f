/**
 * The Batch API benchmark (`npm run bench:batch`), in one run on one machine, split topology
 * (worker in its own process, zero-latency FakeEngine, worker concurrency 16):
 *
 * 1. async throughput: `POST /v1/jobs` burst (the same phase as `npm run bench` (d));
 * 2. interactive `POST /v1/chat/completions` at a fixed rate with nothing else running;
 * 3. a 50,000-line chat batch: upload (multipart) and create timed, then drained while
 *    (4) the same interactive load runs again; drain rate against (1), p95 against (2);
 * 5. Redis memory (INFO used_memory) and the API process's memory per 10,000 lines.
 *
 *   node bench/batch.ts [--lines 50000] [--jobs 10000] [--rate 20] [--duration-s 10]
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../protocol/logger.ts';
import { startBenchFabric } from './fabric-harness.ts';
import { machineInfo } from './machine.ts';
import { runOpenLoop, type OpenLoopResult } from './open-loop.ts';
import { startPrivateRedis, type PrivateRedis } from './private-redis.ts';
import { fmt } from './stats.ts';
import { fabricThroughput } from './throughput.ts';

const progress = (msg: string) => process.stderr.write(`[bench:batch] ${msg}\n`);
const SLOTS = 16;

const { values: args } = parseArgs({
  options: { window: { type: 'string' }, 'submit-concurrency': { type: 'string' }, lines: { type: 'string', default: '50000' }, jobs: { type: 'string', default: '10000' }, rate: { type: 'string', default: '20' }, 'duration-s': { type: 'string', default: '10' } },
});
const LINES = Number(args.lines);
const JOBS = Number(args.jobs);
const RATE = Number(args.rate);
const DURATION_MS = Number(args['duration-s']) * 1000;

const chatBody = (content: string) => ({ model: 'fake-small', messages: [{ role: 'user', content }], max_tokens: 4 });

async function interactive(url: string): Promise<OpenLoopResult> {
  return runOpenLoop({
    ratePerSec: RATE,
    durationMs: DURATION_MS,
    op: async () => {
      const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(chatBody('interactive')) });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    },
  });
}

interface MemoryProbe {
  redisBytes(): Promise<number>;
}

async function json(res: Response): Promise<any> {
  const body = await res.json();
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

async function batchPhase(redis: PrivateRedis, log: ReturnType<typeof createLogger>) {
  await redis.flush();
  const batch = { ...(args.window ? { windowLines: Number(args.window) } : {}), ...(args['submit-concurrency'] ? { submitConcurrency: Number(args['submit-concurrency']) } : {}) };
  const fabric = await startBenchFabric({ redis, log, slots: SLOTS, topology: 'split', batch });
  const admin = redis.connect();
  const mem: MemoryProbe = { redisBytes: async () => Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]) };
  try {
    progress(`interactive baseline: POST /v1/chat/completions at ${RATE}/s for ${DURATION_MS / 1000} s`);
    const baseline = await interactive(fabric.url);
    global.gc?.();
    const redis0 = await mem.redisBytes();
    const heap0 = process.memoryUsage();

    const text = Array.from({ length: LINES }, (_, i) => JSON.stringify({ custom_id: `line-${i}`, method: 'POST', url: '/v1/chat/completions', body: chatBody(`question ${i}`) })).join('\n') + '\n';
    progress(`uploading ${LINES} lines (${(Buffer.byteLength(text) / 1e6).toFixed(1)} MB)`);
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([text]), 'bench.jsonl');
    const t0 = performance.now();
    const file = await json(await fetch(`${fabric.url}/v1/files`, { method: 'POST', body: form }));
    const uploadMs = performance.now() - t0;
    const redisAfterUpload = await mem.redisBytes();
    const t1 = performance.now();
    const batch = await json(await fetch(`${fabric.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }) }));
    const createMs = performance.now() - t1;

    // Poll the batch and sample memory until it ends; the interactive load starts once it drains.
    let inProgressAt = 0;
    let endedAt = 0;
    let last: any = batch;
    let peakRedis = 0;
    let peakRss = 0;
    let peakHeap = 0;
    let sampledAt = 0;
    let during: Promise<OpenLoopResult> | null = null;
    let doneAtStartOfLoad = 0;
    let doneAtEndOfLoad = 0;
    while (!endedAt) {
      await new Promise((r) => setTimeout(r, 100));
      last = await json(await fetch(`${fabric.url}/v1/batches/${batch.id}`));
      if (performance.now() - sampledAt >= 1000) {
        // Live memory, not garbage: with --expose-gc (npm run bench:batch) collect first.
        sampledAt = performance.now();
        global.gc?.();
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
        peakRedis = Math.max(peakRedis, await mem.redisBytes());
      }
      if (!inProgressAt && last.status === 'in_progress') {
        inProgressAt = performance.now();
        progress(`validated in ${fmt((inProgressAt - t1) / 1000)} s; interactive load while the batch drains`);
        doneAtStartOfLoad = last.request_counts.completed;
        during = interactive(fabric.url).then((r) => {
          doneAtEndOfLoad = last.request_counts.completed;
          return r;
        });
      }
      if (['completed', 'failed', 'expired', 'cancelled'].includes(last.status)) endedAt = performance.now();
    }
    const drainMs = endedAt - inProgressAt;
    const whileDraining = during ? await during : null;
    const redisAfter = await mem.redisBytes();
    progress(`batch ${last.status}: ${JSON.stringify(last.request_counts)} in ${fmt(drainMs / 1000)} s`);
    return {
      status: last.status as string,
      counts: last.request_counts as { total: number; completed: number; failed: number },
      uploadMs,
      createMs,
      validateMs: inProgressAt - t1,
      drainMs,
      drainPerSec: LINES / (drainMs / 1000),
      batchLinesDuringLoad: doneAtEndOfLoad - doneAtStartOfLoad,
      loadOverlappedDrain: doneAtEndOfLoad < LINES,
      baseline,
      whileDraining,
      memory: {
        redisInputPer10k: ((redisAfterUpload - redis0) / LINES) * 10_000,
        redisPeakPer10k: ((peakRedis - redis0) / LINES) * 10_000,
        redisAfterPer10k: ((redisAfter - redis0) / LINES) * 10_000,
        apiRssPeakPer10k: ((peakRss - heap0.rss) / LINES) * 10_000,
        apiHeapPeakPer10k: ((peakHeap - heap0.heapUsed) / LINES) * 10_000,
      },
    };
  } finally {
    admin.disconnect();
    await fabric.close();
  }
}

const mb = (b: number) => `${fmt(b / 1024 / 1024, 1)} MiB`;

async function main(): Promise<number> {
  const startedAt = new Date().toISOString();
  const log = createLogger('bench', 'warn');
  const redis = await startPrivateRedis();
  try {
    progress(`async throughput: ${JOBS} jobs over POST /v1/jobs, worker concurrency ${SLOTS}`);
    const asyncTp = await fabricThroughput({ redis, log, jobs: JOBS, warmupJobs: Math.round(JOBS / 10), clientConcurrency: 64, concurrency: SLOTS, clientMode: 'thread', topology: 'split' });
    progress(`async throughput ${fmt(asyncTp.jobsPerSec, 0)} jobs/s`);
    const b = await batchPhase(redis, log);
    const ratio = b.drainPerSec / asyncTp.jobsPerSec;
    const row = (name: string, r: OpenLoopResult | null) =>
      r ? `| ${name} | ${fmt(r.latency.p50Ms)} | ${fmt(percentile95(r))} | ${fmt(r.latency.p99Ms)} | ${fmt(r.latency.maxMs)} | ${r.completed} | ${r.errors} |` : `| ${name} | n/a |`;
    const md = [
      `# inference-fabric Batch API bench (${startedAt})`,
      '',
      `- machine: ${JSON.stringify(machineInfo(redis.version))}`,
      `- command: \`npm run bench:batch${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\``,
      `- split topology: worker \`worker/main.ts\` in its own process, FakeEngine zero latency, worker concurrency ${SLOTS}; API in the bench process; every request is chat with max_tokens 4`,
      '',
      '| figure | value |',
      '| --- | ---: |',
      `| batch lines | ${LINES} (${b.status}: ${b.counts.completed} completed, ${b.counts.failed} failed) |`,
      `| upload (multipart, streamed into Redis) | ${fmt(b.uploadMs / 1000)} s |`,
      `| create (POST /v1/batches answered) | ${fmt(b.createMs)} ms |`,
      `| validation (create -> in_progress) | ${fmt(b.validateMs / 1000)} s |`,
      `| drain (in_progress -> ${b.status}) | ${fmt(b.drainMs / 1000)} s |`,
      `| drain rate | ${fmt(b.drainPerSec, 0)} lines/s |`,
      `| async throughput, POST /v1/jobs burst of ${JOBS} (same run) | ${fmt(asyncTp.jobsPerSec, 0)} jobs/s |`,
      `| drain rate / async throughput (target >= 0.9) | ${fmt(ratio)}x |`,
      `| Redis, input file per 10,000 lines | ${mb(b.memory.redisInputPer10k)} |`,
      `| Redis, peak while draining per 10,000 lines | ${mb(b.memory.redisPeakPer10k)} |`,
      `| Redis, after the batch (input and output files; line jobs dropped once collected) per 10,000 lines | ${mb(b.memory.redisAfterPer10k)} |`,
      `| API process RSS growth at peak per 10,000 lines (sampled each second after a GC; the bench process hosts the API) | ${mb(b.memory.apiRssPeakPer10k)} |`,
      `| API process live heap growth at peak per 10,000 lines | ${mb(b.memory.apiHeapPeakPer10k)} |`,
      '',
      `Interactive \`POST /v1/chat/completions\`, open loop at ${RATE}/s for ${DURATION_MS / 1000} s (ms, from the scheduled send):`,
      '',
      '| load | p50 | p95 | p99 | max | n | errors |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      row('alone', b.baseline),
      row(`while the batch drains (${b.batchLinesDuringLoad} batch lines finished meanwhile${b.loadOverlappedDrain ? '' : '; the batch ended before the load did'})`, b.whileDraining),
      '',
      `- p95 while draining / alone (target <= 1.5): ${b.whileDraining ? fmt(percentile95(b.whileDraining) / percentile95(b.baseline)) : 'n/a'}x`,
      '',
    ].join('\n');
    process.stdout.write(md);
    const dir = fileURLToPath(new URL('./results/', import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}batch-latest.md`, md);
    writeFileSync(`${dir}batch-latest.json`, JSON.stringify({ startedAt, lines: LINES, asyncThroughput: asyncTp.jobsPerSec, batch: b }, null, 2));
    return 0;
  } finally {
    await redis.stop();
  }
}

const percentile95 = (r: OpenLoopResult) => r.latency.p95Ms;

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[bench:batch] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
