/**
 * `node bench/load-tiers.ts [--dir D] [--rounds 3] [--gpu] [--large-gb 1] [--json]`: load speeds per
 * tier through the real llama.cpp engine (node-llama-cpp), for the simulator's constants and the
 * scheduler's assumed speeds. Models: the demo `demo-chat` and a generated random-weight GGUF of
 * about `--large-gb` GB (gguf-writer.ts, written once into `--dir`). Each round loads each model
 * twice: from a cold file (its pages dropped with posix_fadvise DONTNEED after a write-back, and
 * checked with mincore) and from the page cache (the file read first, checked likewise); each load
 * is timed from `loadModel` to resident, then unloaded. Then the large file is read sequentially
 * without the engine from each tier (raw read speeds). Prints the median per model and tier.
 * `--gpu` offloads to a GPU (gpu: 'auto'); default is the CPU, as on a machine without one.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../protocol/logger.ts';
import { ensureDemoModels, type DemoModelSpec } from '../worker/engines/llama-cpp/demo-models.ts';
import { LlamaCppEngine } from '../worker/engines/llama-cpp/llama-cpp-engine.ts';
import { openPageCache, type PageCache } from '../worker/host-cache/page-cache.ts';

interface Row {
  readonly model: string;
  readonly fileBytes: number;
  readonly tier: 'disk' | 'host';
  readonly ms: number[];
  /** Share of the file in the page cache just before each load. */
  readonly cachedShare: number[];
}

/**
 * A llama-architecture spec of about `gb` GB in F32 (written without conversion, so a 1 GB file
 * takes seconds to generate): 2048 wide, 5632 feed-forward, ~206 MB a layer.
 */
function largeSpec(gb: number): DemoModelSpec {
  const layers = Math.max(1, Math.round((gb * 1e9) / (4 * (4 * 2048 * 2048 + 3 * 2048 * 5632))));
  return { name: `tier-${gb}gb`, embeddingLength: 2048, layers, heads: 16, kvHeads: 16, feedForwardLength: 5632, contextLength: 512, tensorType: 'f32', seed: 7 };
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

function prepare(pc: PageCache, path: string, tier: 'disk' | 'host'): number {
  if (tier === 'disk') pc.dontNeed(path);
  else readFileSync(path);
  const r = pc.residentBytes(path);
  return r.cachedBytes / r.fileBytes;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { dir: { type: 'string' }, rounds: { type: 'string' }, gpu: { type: 'boolean' }, 'large-gb': { type: 'string' }, json: { type: 'boolean' } },
  });
  const dir = values.dir ?? join(tmpdir(), 'fabric-load-tiers');
  const rounds = Number(values.rounds ?? 3);
  const largeGb = Number(values['large-gb'] ?? 1);
  mkdirSync(dir, { recursive: true });
  const pc = await openPageCache();
  if (!pc) throw new Error('the page cache cannot be reached here (koffi/libc): no cold-file measurement possible');
  const specs = [{ name: 'demo-chat', embeddingLength: 64, layers: 2, heads: 4, kvHeads: 4, feedForwardLength: 176, contextLength: 2048, tensorType: 'f16', seed: 1 } as const, largeSpec(largeGb)];
  const files = await ensureDemoModels(dir, specs);
  const engine = new LlamaCppEngine({ modelsDir: dir, threads: 1, contextSize: 512, slotsPerModel: 1, gpu: values.gpu ? 'auto' : false }, { logger: createLogger('load-tiers', 'warn') });
  const rows: Row[] = [];
  try {
    // One load first, untimed: the backend's own start-up is not a load.
    await engine.load(files[0]!.name);
    await engine.unload(files[0]!.name);
    for (const f of files) {
      const fileBytes = (await stat(f.path)).size;
      for (const tier of ['disk', 'host'] as const) {
        const row: Row = { model: f.name, fileBytes, tier, ms: [], cachedShare: [] };
        for (let i = 0; i < rounds; i++) {
          row.cachedShare.push(prepare(pc, f.path, tier));
          const t0 = performance.now();
          await engine.load(f.name);
          row.ms.push(performance.now() - t0);
          await engine.unload(f.name);
        }
        rows.push(row);
      }
    }
  } finally {
    await engine.close();
  }
  // The same file read sequentially, no engine: the tiers' raw read speeds on this machine.
  const large = files[files.length - 1]!;
  const reads: Row[] = (['disk', 'host'] as const).map((tier) => ({ model: `${large.name} (read only)`, fileBytes: large.sizeBytes, tier, ms: [], cachedShare: [] }));
  for (let i = 0; i < rounds; i++) {
    for (const row of reads) {
      row.cachedShare.push(prepare(pc, large.path, row.tier));
      const t0 = performance.now();
      readFileSync(large.path);
      row.ms.push(performance.now() - t0);
    }
  }
  rows.push(...reads);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ gpu: !!values.gpu, rounds, rows }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`load speeds per tier, llama.cpp (${values.gpu ? 'GPU offload' : 'CPU'}), median of ${rounds}:\n`);
  process.stdout.write('| model | file (MB) | tier | cached before load | load (ms) | GB/s |\n|---|---:|---|---:|---:|---:|\n');
  for (const r of rows) {
    const ms = median(r.ms);
    process.stdout.write(`| ${r.model} | ${(r.fileBytes / 1e6).toFixed(1)} | ${r.tier === 'disk' ? 'disk (cold file)' : 'page cache'} | ${(median(r.cachedShare) * 100).toFixed(0)}% | ${ms.toFixed(1)} | ${(r.fileBytes / 1e9 / (ms / 1000)).toFixed(2)} |\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
