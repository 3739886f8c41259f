/**
 * The llama.cpp GPU check (entry point; bundled by scripts/prepare-llama-gpu-check.sh, run by
 * scripts/llama-gpu-check.sh): runs the embedded engine (LlamaCppEngine with gpu 'auto', as a
 * worker with GPUs runs it) on a synthetic demo model of about --model-gb and reports
 *   - the backend node-llama-cpp loaded (cuda expected) and the GPU and VRAM it reports,
 *   - the model's footprint: the ledger's estimate (engine.estimateFootprint), the NVML used
 *     delta around engine.load (as worker/residency.ts takes it) and node-llama-cpp's figures,
 *   - load times (first load, reload) and generation speed through engine.generate.
 * Prints a markdown table and one `LLAMA_GPU_CHECK_JSON {...}` line.
 * Exit codes: 0 pass (or a CPU run allowed by --allow-cpu), 1 on CUDA but not fully offloaded,
 * 2 no CUDA or no NVML (with the reasons), 3 a step failed.
 */
import { writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { pino } from 'pino';
import type { EngineCapacity, GenerateResult } from '../engines/engine.js';
import { LlamaCppEngine } from '../engines/llama-cpp/llama-cpp-engine.js';
import { createGpuReader, type GpuReader } from './gpu-reader.js';
import {
  ensureSyntheticModel,
  errorText,
  formatBytes,
  formatDiff,
  formatReport,
  median,
  missingLibraries,
  parseOptions,
  probeCudaLibraries,
  stableGpuUsedBytes,
  syntheticModelSpec,
  type LlamaGpuCheckOptions,
  type ReportRow,
} from './llama-gpu-check.js';

const PROMPT = 'The fabric loads a model where jobs wait, and the worker takes them from its queue.';
const WARMUP_TOKENS = 16;
const started = performance.now();
function progress(message: string): void {
  process.stderr.write(`[llama-gpu-check +${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
}

/** llama.gpu as the engine exposes it: its capacity names the device `<gpu type>-0`, and lists none on the CPU. */
function backendOf(capacity: EngineCapacity): string {
  return capacity.gpus[0]?.uuid.replace(/-\d+$/, '') ?? 'cpu';
}

async function timedGenerate(engine: LlamaCppEngine, model: string, tokens: number, seed: number): Promise<GenerateResult & { wallMs: number; tokensPerSecond: number | null }> {
  const t = performance.now();
  const res = await engine.generate({
    model,
    task: 'generate',
    prompt: PROMPT,
    options: { num_predict: tokens, seed },
    signal: new AbortController().signal,
    onToken: () => {},
  });
  const wallMs = performance.now() - t;
  // evalMs runs from the first token to the last, so it spans completionTokens - 1 decode steps.
  const tokensPerSecond = res.evalMs > 0 && res.completionTokens > 1 ? ((res.completionTokens - 1) * 1000) / res.evalMs : null;
  return { ...res, wallMs: Math.round(wallMs), tokensPerSecond };
}

/** node-llama-cpp's own answer to gpu 'cuda', for the report when 'auto' did not pick CUDA. */
async function cudaLoadError(): Promise<string> {
  try {
    const llama = await getLlama({ gpu: 'cuda', build: 'never', progressLogs: false, logLevel: LlamaLogLevel.error });
    const gpu = llama.gpu;
    await llama.dispose();
    return `getLlama({ gpu: 'cuda' }) on its own loaded ${String(gpu)}: 'auto' skipped CUDA because a library is missing from its search folders`;
  } catch (err) {
    return `getLlama({ gpu: 'cuda' }) failed: ${errorText(err)}`;
  }
}

/** What the check found so far; printed and written once at the end. */
interface Report {
  facts: Record<string, unknown>;
  rows: ReportRow[];
  notes: string[];
  result: string;
  code: number;
  backend: string;
}

/** Loads, generates, unloads and reloads through the engine; returns early when CUDA is required and absent. */
async function measure(engine: LlamaCppEngine, reader: GpuReader, name: string, missing: readonly string[], opts: LlamaGpuCheckOptions, r: Report): Promise<void> {
  const estimate = await engine.estimateFootprint(name);
  if (!estimate) throw new Error(`the engine does not list ${name} in ${opts.modelsDir}`);
  r.facts.estimate = estimate;
  const est = estimate.totalBytes;
  r.rows.push({
    measurement: 'ledger estimate (engine.estimateFootprint)',
    value: formatBytes(est),
    note: `weights ${formatBytes(estimate.weightsBytes)} + KV ${formatBytes(estimate.kvCacheBytes)} (${opts.contextSize} x ${opts.slots} slots) + overhead ${formatBytes(estimate.overheadBytes)}`,
  });

  progress('first load (starts llama.cpp: backend detection, CUDA context)');
  const before = await stableGpuUsedBytes(reader);
  const first = await engine.load(name);
  const after = await stableGpuUsedBytes(reader);
  const loaded = await engine.capacity();
  r.backend = backendOf(loaded);
  const device = loaded.gpus[0];
  r.facts.backend = r.backend;
  r.facts.llamaGpu = device ? { name: device.name, totalBytes: device.memoryTotalBytes, usedBytes: device.memoryUsedBytes, freeBytes: device.memoryFreeBytes } : null;
  r.rows.unshift({
    measurement: 'llama.gpu (node-llama-cpp backend)',
    value: r.backend,
    note: device ? `${device.name}; VRAM ${formatBytes(device.memoryTotalBytes)} total, ${formatBytes(device.memoryFreeBytes)} free after load` : 'no GPU device',
  });
  progress(`loaded on ${r.backend} in ${first.loadMs} ms`);
  if (r.backend !== 'cuda') {
    r.notes.push(`node-llama-cpp did not load CUDA (backend ${r.backend})${missing.length > 0 ? `; missing: ${missing.join('; ')}` : ''}`);
    if (!opts.allowCpu) {
      r.result = 'no-cuda';
      r.code = 2;
      return;
    }
    r.notes.push('running on the CPU because --allow-cpu / LLAMA_GPU_CHECK_ALLOW_CPU=1 was given');
    r.result = 'cpu-only';
  }

  const firstDelta = before !== null && after !== null ? after - before : null;
  // worker/residency.ts: the NVML delta when there are GPUs, else what the engine reports.
  const measured = Math.max(firstDelta ?? 0, first.sizeVramBytes) || first.sizeBytes;
  r.facts.firstLoad = { loadMs: first.loadMs, nvmlBeforeBytes: before, nvmlAfterBytes: after, nvmlDeltaBytes: firstDelta, sizeBytes: first.sizeBytes, sizeVramBytes: first.sizeVramBytes, fabricMeasuredBytes: measured };
  r.rows.push(
    { measurement: 'NVML used delta, first load', value: formatBytes(firstDelta), vsEstimate: formatDiff(firstDelta, est), note: 'around engine.load, as worker/residency.ts; includes the CUDA context and llama.cpp start' },
    { measurement: 'node-llama-cpp VRAM (model + context)', value: formatBytes(first.sizeVramBytes), vsEstimate: formatDiff(first.sizeVramBytes, est), note: `LoadResult.sizeVramBytes; RAM + VRAM ${formatBytes(first.sizeBytes)}` },
    { measurement: 'fabric measured footprint (recorded)', value: formatBytes(measured), vsEstimate: formatDiff(measured, est), note: 'max(NVML delta, sizeVramBytes) || sizeBytes' },
    { measurement: 'load time, first load', value: `${first.loadMs} ms`, note: 'LoadResult.loadMs: getLlama + loadModel + createContext' },
  );
  const offloaded = first.sizeVramBytes >= 0.9 * estimate.weightsBytes;
  r.facts.fullyOffloaded = offloaded;
  if (r.backend === 'cuda' && !offloaded) {
    r.notes.push(`only ${formatBytes(first.sizeVramBytes)} of ${formatBytes(estimate.weightsBytes)} weights went to VRAM`);
    r.result = 'partial-offload';
    r.code = 1;
  }

  progress(`warm-up generation (${WARMUP_TOKENS} tokens; first use of each kernel, compiled from PTX where the backend has no code for this GPU)`);
  const warmup = await timedGenerate(engine, name, WARMUP_TOKENS, 1);
  progress(`timed generations: ${opts.runs} x ${opts.tokens} tokens`);
  const runs: Array<Awaited<ReturnType<typeof timedGenerate>>> = [];
  for (let i = 0; i < opts.runs; i++) runs.push(await timedGenerate(engine, name, opts.tokens, 2 + i));
  const decode = median(runs.map((g) => g.tokensPerSecond).filter((v): v is number => v !== null));
  const promptRate = median(runs.map((g) => (g.promptEvalMs > 0 ? (g.promptTokens * 1000) / g.promptEvalMs : 0)));
  r.facts.generation = {
    warmup: { tokens: warmup.completionTokens, wallMs: warmup.wallMs },
    runs: runs.map((g) => ({ promptTokens: g.promptTokens, completionTokens: g.completionTokens, promptEvalMs: g.promptEvalMs, evalMs: g.evalMs, wallMs: g.wallMs, tokensPerSecond: g.tokensPerSecond, doneReason: g.doneReason })),
    medianTokensPerSecond: decode,
    medianPromptTokensPerSecond: promptRate,
    sample: runs[0]?.text.slice(0, 80) ?? '',
  };
  r.rows.push(
    { measurement: 'first generation (warm-up)', value: `${warmup.wallMs} ms`, note: `${warmup.completionTokens} tokens; includes first use of each kernel` },
    {
      measurement: `generation speed (${opts.tokens} tokens)`,
      value: decode === null ? 'n/a' : `${decode.toFixed(1)} tokens/s`,
      note: `median of ${opts.runs}: ${runs.map((g) => `${g.completionTokens} tok in ${g.wallMs} ms`).join(', ')}; threads ${opts.threads}`,
    },
    { measurement: 'prompt evaluation', value: promptRate === null ? 'n/a' : `${promptRate.toFixed(1)} tokens/s`, note: `${runs[0]?.promptTokens ?? 0}-token prompt, to first token` },
  );

  progress('unload, then reload (llama.cpp and its CUDA context stay up)');
  await engine.unload(name);
  const afterUnload = await stableGpuUsedBytes(reader);
  const unloadedCap = await engine.capacity();
  const second = await engine.load(name);
  const afterReload = await stableGpuUsedBytes(reader);
  const reloadedCap = await engine.capacity();
  const released = after !== null && afterUnload !== null ? after - afterUnload : null;
  const reloadDelta = afterUnload !== null && afterReload !== null ? afterReload - afterUnload : null;
  const usedBefore = unloadedCap.gpus[0]?.memoryUsedBytes;
  const usedAfter = reloadedCap.gpus[0]?.memoryUsedBytes;
  const llamaDelta = usedBefore !== undefined && usedAfter !== undefined ? usedAfter - usedBefore : null;
  r.facts.reload = { loadMs: second.loadMs, nvmlReleasedOnUnloadBytes: released, nvmlDeltaBytes: reloadDelta, llamaDeviceUsedDeltaBytes: llamaDelta, sizeVramBytes: second.sizeVramBytes };
  r.rows.push(
    { measurement: 'NVML used released by unload', value: formatBytes(released), vsEstimate: formatDiff(released, est), note: 'what the unload gave back' },
    { measurement: 'NVML used delta, reload', value: formatBytes(reloadDelta), vsEstimate: formatDiff(reloadDelta, est), note: 'the model alone: the CUDA context already exists' },
    { measurement: 'node-llama-cpp device used delta, reload', value: formatBytes(llamaDelta), vsEstimate: formatDiff(llamaDelta, est), note: 'llama.getVramState() through engine.capacity()' },
    { measurement: 'load time, reload', value: `${second.loadMs} ms`, note: 'file in the page cache, llama.cpp already started' },
  );
  await engine.unload(name);
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2), process.env);
  const at = new Date().toISOString();
  const r: Report = {
    facts: { at, node: process.version, threads: opts.threads, contextSize: opts.contextSize, slots: opts.slots },
    rows: [],
    notes: [],
    result: 'pass',
    code: 0,
    backend: 'cpu',
  };
  const finish = async (): Promise<number> => {
    const json = { ...r.facts, result: r.result, exitCode: r.code, notes: r.notes, rows: r.rows };
    console.log(`llama.cpp GPU check ${at}: ${String(r.facts.nvmlGpu ?? 'no NVML GPU')}, node-llama-cpp backend ${String(r.facts.backend ?? '?')}`);
    for (const n of r.notes) console.log(`  note: ${n}`);
    console.log('');
    if (r.rows.length > 0) console.log(`${formatReport(r.rows)}\n`);
    console.log(`result: ${r.result.toUpperCase()} (exit ${r.code})`);
    console.log(`LLAMA_GPU_CHECK_JSON ${JSON.stringify(json)}`);
    if (opts.out) await writeFile(opts.out, `${JSON.stringify(json, null, 2)}\n`);
    return r.code;
  };

  progress(`options ${JSON.stringify(opts)}`);
  const libraries = await probeCudaLibraries();
  const missing = missingLibraries(libraries);
  r.facts.cudaLibraries = libraries;
  r.facts.ldLibraryPath = process.env.LD_LIBRARY_PATH ?? '';
  if (missing.length > 0) r.notes.push(`CUDA libraries not usable: ${missing.join('; ')}`);

  const reader = await createGpuReader({ mode: 'nvml', nvml: { libraryPath: opts.nvmlLibrary } });
  const gpus = await reader.read().catch(() => []);
  r.facts.nvml = reader.reason;
  r.facts.nvmlGpu = gpus[0] ? `${gpus[0].name} (${formatBytes(gpus[0].memoryTotalBytes)})` : null;
  if (gpus.length === 0) {
    r.notes.push(`NVML: ${reader.reason}`);
    if (!opts.allowCpu) {
      r.result = 'no-gpu';
      r.code = 2;
      return finish();
    }
  }

  const spec = syntheticModelSpec(opts.modelBytes);
  progress(`model ${spec.name}: writing into ${opts.modelsDir} unless there already`);
  const file = await ensureSyntheticModel(opts.modelsDir, spec);
  r.facts.model = { ...spec, path: file.path, sizeBytes: file.sizeBytes, created: file.created, writeMs: file.writeMs };
  progress(`model ${file.created ? 'written' : 'reused'}: ${formatBytes(file.sizeBytes)} in ${file.writeMs} ms`);
  r.rows.push({
    measurement: 'model file',
    value: formatBytes(file.sizeBytes),
    note: `${spec.name}: F32, width ${spec.embeddingLength}, ${spec.layers} layers, ${spec.heads}/${spec.kvHeads} heads; ${file.created ? `written in ${file.writeMs} ms` : 'reused'}`,
  });

  const logger = pino({ name: 'llama-gpu-check', level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const memoryBytes = Math.max(totalmem(), ...gpus.map((g) => g.memoryTotalBytes ?? 0));
  const engine = new LlamaCppEngine(
    { modelsDir: opts.modelsDir, threads: opts.threads, contextSize: opts.contextSize, slotsPerModel: opts.slots, memoryBytes, gpu: 'auto' },
    { logger },
  );
  try {
    await measure(engine, reader, spec.name, missing, opts, r);
  } catch (err) {
    r.notes.push(`step failed: ${errorText(err)}`);
    r.result = 'failed';
    r.code = 3;
  } finally {
    await engine.close();
    r.facts.nvmlUsedAfterCloseBytes = await stableGpuUsedBytes(reader).catch(() => null);
    await reader.close();
  }
  if (r.backend !== 'cuda') {
    progress('asking node-llama-cpp for CUDA directly, for the reason it is not used');
    r.facts.cudaLoadError = await cudaLoadError();
    r.notes.push(String(r.facts.cudaLoadError));
  }
  return finish();
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('llama.cpp GPU check crashed', err);
    console.log(`LLAMA_GPU_CHECK_JSON ${JSON.stringify({ at: new Date().toISOString(), result: 'crashed', exitCode: 3, notes: [errorText(err)] })}`);
    process.exit(3);
  },
);
