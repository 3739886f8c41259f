/**
 * The llama.cpp GPU check (entry point; bundled by scripts/prepare-llama-gpu-check.sh, run by
 * scripts/llama-gpu-check.sh): runs the embedded engine (LlamaCppEngine with gpu 'auto', as a
 * worker with GPUs runs it) on a synthetic demo model of about --model-gb and reports
 *   - the backend node-llama-cpp loaded (cuda expected), the GPU and VRAM it reports, and whether
 *     its prebuilt CUDA kernels can run on this GPU with this driver,
 *   - the model's footprint: the ledger's estimate (engine.estimateFootprint), the NVML used
 *     delta around engine.load (as worker/residency.ts takes it) and node-llama-cpp's figures,
 *   - load times (first load, reload) and, last, generation speed through engine.generate.
 * The measuring runs in a child process, so a native abort (ggml aborts on a CUDA error) or a
 * hang past --deadline still ends in a report of what was measured and where it stopped.
 * Prints a markdown table and one `LLAMA_GPU_CHECK_JSON {...}` line.
 * Exit codes: 0 pass (or a CPU run allowed by --allow-cpu), 1 on CUDA but not fully offloaded,
 * 2 no CUDA or no NVML, or CUDA loads but its kernels cannot run on this GPU (with the reasons),
 * 3 a step failed, the process died or ran out of time.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { pino } from 'pino';
import type { EngineCapacity } from '../engines/engine.js';
import { LlamaCppEngine } from '../engines/llama-cpp/llama-cpp-engine.js';
import { cudaBackendPath, cudaFit, nvmlCudaFacts, readFatbin } from './cuda-backend.js';
import { createGpuReader, type GpuReader } from './gpu-reader.js';
import * as check from './llama-gpu-check.js';
import type { LlamaGpuCheckOptions, Report } from './llama-gpu-check.js';

const CHILD_ENV = 'LLAMA_GPU_CHECK_CHILD';
const PROMPT = 'The fabric loads a model where jobs wait, and the worker takes them from its queue.';
const WARMUP_TOKENS = 16;
const started = performance.now();

/** Names the step (for a report after a crash) and logs it with the time since start. */
function step(r: Report, message: string): void {
  r.step = message;
  process.send?.({ report: r });
  process.stderr.write(`[llama-gpu-check +${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
}

function median(values: readonly number[]): number | null {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? null : sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** llama.gpu as the engine exposes it: its capacity names the device `<gpu type>-0`, and lists none on the CPU. */
function backendOf(capacity: EngineCapacity): string {
  return capacity.gpus[0]?.uuid.replace(/-\d+$/, '') ?? 'cpu';
}

async function timedGenerate(engine: LlamaCppEngine, model: string, tokens: number, seed: number) {
  const t = performance.now();
  const signal = new AbortController().signal;
  const res = await engine.generate({ model, task: 'generate', prompt: PROMPT, options: { num_predict: tokens, seed }, signal, onToken: () => {} });
  // evalMs runs from the first token to the last, so it spans completionTokens - 1 decode steps.
  const tokensPerSecond = res.evalMs > 0 && res.completionTokens > 1 ? ((res.completionTokens - 1) * 1000) / res.evalMs : null;
  return { ...res, wallMs: Math.round(performance.now() - t), tokensPerSecond };
}

/** Why CUDA was not used: the dynamic linker's answer for the CUDA backend, then node-llama-cpp's own to gpu 'cuda'. */
async function whyNoCuda(): Promise<string[]> {
  const dlopen = await check.cudaBackendLoadError();
  const reasons = [dlopen ?? 'the CUDA backend library loads (dlopen), so its CUDA libraries are all found'];
  try {
    const llama = await getLlama({ gpu: 'cuda', build: 'never', progressLogs: false, logLevel: LlamaLogLevel.error });
    const gpu = llama.gpu;
    await llama.dispose();
    reasons.push(`getLlama({ gpu: 'cuda' }) on its own loaded ${String(gpu)}: 'auto' skipped CUDA because a library is missing from its search folders`);
  } catch (err) {
    reasons.push(`getLlama({ gpu: 'cuda' }) failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
  return reasons;
}

/** Load, reload, then generate (the step most likely to abort, so last); returns early when CUDA is required and absent. */
async function measure(engine: LlamaCppEngine, reader: GpuReader, name: string, opts: LlamaGpuCheckOptions, r: Report): Promise<void> {
  const { formatBytes: mib, formatDiff: diff } = check;
  const estimate = await engine.estimateFootprint(name);
  if (!estimate) throw new Error(`the engine does not list ${name} in ${opts.modelsDir}`);
  const est = estimate.totalBytes;
  r.facts.estimate = estimate;
  r.rows.push({
    measurement: 'ledger estimate (engine.estimateFootprint)',
    value: mib(est),
    note: `weights ${mib(estimate.weightsBytes)} + KV ${mib(estimate.kvCacheBytes)} (${opts.contextSize} x ${opts.slots} slots) + overhead ${mib(estimate.overheadBytes)}`,
  });

  step(r, 'first load (starts llama.cpp: backend detection and its binary test, CUDA context)');
  const before = await check.stableGpuUsedBytes(reader);
  const first = await engine.load(name);
  const after = await check.stableGpuUsedBytes(reader);
  const loaded = await engine.capacity();
  r.backend = backendOf(loaded);
  const device = loaded.gpus[0];
  r.facts.llamaGpu = device ? { gpu: r.backend, name: device.name, totalBytes: device.memoryTotalBytes, freeBytes: device.memoryFreeBytes } : null;
  r.rows.unshift({
    measurement: 'llama.gpu (node-llama-cpp backend)',
    value: r.backend,
    note: device ? `${device.name}; VRAM ${mib(device.memoryTotalBytes)} total, ${mib(device.memoryFreeBytes)} free after load` : 'no GPU device',
  });
  if (r.backend !== 'cuda') {
    r.notes.push(`node-llama-cpp did not load CUDA (backend ${r.backend})`);
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
    { measurement: 'NVML used delta, first load', value: mib(firstDelta), vsEstimate: diff(firstDelta, est), note: 'around engine.load, as worker/residency.ts; includes the CUDA context and llama.cpp start' },
    { measurement: 'node-llama-cpp VRAM (model + context)', value: mib(first.sizeVramBytes), vsEstimate: diff(first.sizeVramBytes, est), note: `LoadResult.sizeVramBytes; RAM + VRAM ${mib(first.sizeBytes)}` },
    { measurement: 'fabric measured footprint (recorded)', value: mib(measured), vsEstimate: diff(measured, est), note: 'max(NVML delta, sizeVramBytes) || sizeBytes' },
    { measurement: 'load time, first load', value: `${first.loadMs} ms`, note: 'LoadResult.loadMs: getLlama + loadModel + createContext' },
  );
  r.facts.fullyOffloaded = first.sizeVramBytes >= 0.9 * estimate.weightsBytes;
  if (r.backend === 'cuda' && !r.facts.fullyOffloaded) {
    r.notes.push(`only ${mib(first.sizeVramBytes)} of ${mib(estimate.weightsBytes)} weights went to VRAM`);
    r.result = 'partial-offload';
    r.code = 1;
  }

  step(r, 'unload, then reload (llama.cpp and its CUDA context stay up)');
  await engine.unload(name);
  const afterUnload = await check.stableGpuUsedBytes(reader);
  const unloaded = await engine.capacity();
  const second = await engine.load(name);
  const afterReload = await check.stableGpuUsedBytes(reader);
  const reloaded = await engine.capacity();
  const released = after !== null && afterUnload !== null ? after - afterUnload : null;
  const reloadDelta = afterUnload !== null && afterReload !== null ? afterReload - afterUnload : null;
  const [usedBefore, usedAfter] = [unloaded.gpus[0]?.memoryUsedBytes, reloaded.gpus[0]?.memoryUsedBytes];
  const llamaDelta = usedBefore !== undefined && usedAfter !== undefined ? usedAfter - usedBefore : null;
  r.facts.reload = { loadMs: second.loadMs, nvmlReleasedOnUnloadBytes: released, nvmlDeltaBytes: reloadDelta, llamaDeviceUsedDeltaBytes: llamaDelta, sizeVramBytes: second.sizeVramBytes };
  r.rows.push(
    { measurement: 'NVML used released by unload', value: mib(released), vsEstimate: diff(released, est), note: 'what the unload gave back' },
    { measurement: 'NVML used delta, reload', value: mib(reloadDelta), vsEstimate: diff(reloadDelta, est), note: 'the model alone: the CUDA context already exists' },
    { measurement: 'node-llama-cpp device used delta, reload', value: mib(llamaDelta), vsEstimate: diff(llamaDelta, est), note: 'llama.getVramState() through engine.capacity()' },
    { measurement: 'load time, reload', value: `${second.loadMs} ms`, note: 'file in the page cache, llama.cpp already started' },
  );

  step(r, `warm-up generation (${WARMUP_TOKENS} tokens: first launch of each kernel${r.facts.cudaFit ? `; ${(r.facts.cudaFit as { verdict: string }).verdict}` : ''})`);
  const warmup = await timedGenerate(engine, name, WARMUP_TOKENS, 1);
  r.rows.push({ measurement: 'first generation (warm-up)', value: `${warmup.wallMs} ms`, note: `${warmup.completionTokens} tokens; includes the first launch of each kernel` });
  step(r, `timed generations: ${opts.runs} x ${opts.tokens} tokens`);
  const runs: Array<Awaited<ReturnType<typeof timedGenerate>>> = [];
  for (let i = 0; i < opts.runs; i++) runs.push(await timedGenerate(engine, name, opts.tokens, 2 + i));
  const decode = median(runs.map((g) => g.tokensPerSecond).filter((v): v is number => v !== null));
  const prompt = median(runs.map((g) => (g.promptEvalMs > 0 ? (g.promptTokens * 1000) / g.promptEvalMs : 0)));
  r.facts.generation = {
    warmup: { tokens: warmup.completionTokens, wallMs: warmup.wallMs },
    runs: runs.map(({ text: _text, ...g }) => g),
    medianTokensPerSecond: decode,
    medianPromptTokensPerSecond: prompt,
    sample: runs[0]?.text.slice(0, 80) ?? '',
  };
  r.rows.push(
    {
      measurement: `generation speed (${opts.tokens} tokens)`,
      value: decode === null ? 'n/a' : `${decode.toFixed(1)} tokens/s`,
      note: `median of ${opts.runs}: ${runs.map((g) => `${g.completionTokens} tok in ${g.wallMs} ms`).join(', ')}; threads ${opts.threads}`,
    },
    { measurement: 'prompt evaluation', value: prompt === null ? 'n/a' : `${prompt.toFixed(1)} tokens/s`, note: `${runs[0]?.promptTokens ?? 0}-token prompt, to first token` },
  );
  await engine.unload(name);
}

/** The measuring process: everything above, reporting to the supervising parent over IPC. */
async function runChild(opts: LlamaGpuCheckOptions): Promise<Report> {
  const r = check.newReport(opts);
  step(r, `options ${JSON.stringify(opts)}`);
  const libraries = await check.probeCudaLibraries();
  const missing = check.missingLibraries(libraries);
  r.facts.cudaLibraries = libraries;
  r.facts.ldLibraryPath = process.env.LD_LIBRARY_PATH ?? '';
  if (missing.length > 0) r.notes.push(`CUDA libraries not usable: ${missing.join('; ')}`);

  const reader = await createGpuReader({ mode: 'nvml', nvml: { libraryPath: opts.nvmlLibrary } });
  const gpus = await reader.read().catch(() => []);
  r.facts.nvml = reader.reason;
  r.facts.nvmlGpu = gpus[0] ? `${gpus[0].name} (${check.formatBytes(gpus[0].memoryTotalBytes)})` : null;
  if (gpus.length > 1) r.notes.push(`${gpus.length} GPUs: NVML deltas are summed over all of them, as the worker does`);
  const backendPath = await cudaBackendPath();
  if (gpus.length > 0 && backendPath) {
    const [contents, cuda] = await Promise.all([readFatbin(backendPath), nvmlCudaFacts(opts.nvmlLibrary, gpus[0]!.index)]);
    const fit = cudaFit(contents, cuda.cc, cuda.driverCuda);
    r.facts.cudaFit = { ...fit, ...contents, computeCapability: cuda.cc, driverCudaVersion: cuda.driverCuda };
    r.rows.push({ measurement: 'CUDA backend kernels on this GPU', value: fit.verdict, note: fit.reason });
    if (fit.verdict === 'unsupported') r.notes.push(`expected to abort at the first generation: ${fit.reason}`);
  }
  if (gpus.length === 0) {
    r.notes.push(`NVML: ${reader.reason}`);
    if (!opts.allowCpu) {
      r.result = 'no-gpu';
      r.code = 2;
      r.notes.push(...(await whyNoCuda()));
      await reader.close();
      return r;
    }
  }

  const spec = check.syntheticModelSpec(opts.modelBytes);
  step(r, `model ${spec.name}: writing into ${opts.modelsDir} unless it is there`);
  const file = await check.ensureSyntheticModel(opts.modelsDir, spec);
  r.facts.model = { ...spec, path: file.path, sizeBytes: file.sizeBytes, created: file.created, writeMs: file.writeMs };
  r.rows.push({
    measurement: 'model file',
    value: check.formatBytes(file.sizeBytes),
    note: `${spec.name}: F32, width ${spec.embeddingLength}, ${spec.layers} layers, ${spec.heads}/${spec.kvHeads} heads; ${file.created ? `written in ${file.writeMs} ms` : 'reused'}`,
  });

  const logger = pino({ name: 'llama-gpu-check', level: process.env.LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const memoryBytes = Math.max(totalmem(), ...gpus.map((g) => g.memoryTotalBytes ?? 0));
  const engine = new LlamaCppEngine(
    { modelsDir: opts.modelsDir, threads: opts.threads, contextSize: opts.contextSize, slotsPerModel: opts.slots, memoryBytes, gpu: 'auto' },
    { logger },
  );
  try {
    await measure(engine, reader, spec.name, opts, r);
  } catch (err) {
    r.notes.push(`step failed (${r.step}): ${check.errorText(err)}`);
    [r.result, r.code] = ['failed', 3];
  } finally {
    await engine.close();
    r.facts.nvmlUsedAfterCloseBytes = await check.stableGpuUsedBytes(reader).catch(() => null);
    await reader.close();
  }
  if (r.backend !== 'cuda') r.notes.push(...(await whyNoCuda()));
  return r;
}

/** Runs the measuring process, relays its log, and reports what it sent, also when it dies or overruns. */
async function supervise(opts: LlamaGpuCheckOptions): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
    env: { ...process.env, [CHILD_ENV]: '1', GGML_NO_BACKTRACE: process.env.GGML_NO_BACKTRACE ?? '1' },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let report: Report | undefined;
  let final = false;
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => {
    process.stderr.write(d);
    tail = (tail + d.toString()).slice(-20_000);
  });
  child.on('message', (m: { report: Report; final?: boolean }) => {
    report = m.report;
    final ||= m.final === true;
  });
  let overran = false;
  const timer = setTimeout(() => {
    overran = true;
    child.kill('SIGKILL');
  }, opts.deadlineSeconds * 1000);
  // 'close' comes after the IPC channel has delivered the last report.
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  const r = report ?? check.newReport(opts);
  if (!final) {
    const how = overran ? `ran past --deadline=${opts.deadlineSeconds}s and was killed` : signal ? `died of ${signal}` : `exited with code ${code}`;
    r.notes.push(`the measuring process ${how} during: ${r.step}`);
    const clues = tail.split('\n').filter((l) => /cuda error|error:|abort|unsupported|assert|out of memory/i.test(l));
    if (clues.length > 0) r.notes.push(`its last error lines: ${clues.slice(-6).join(' | ')}`);
    [r.result, r.code] = [overran ? 'timeout' : 'crashed', 3];
    // The abort cudaFit foresaw: CUDA loads, but this GPU cannot run the backend's kernels with this driver.
    const foreseen = (r.facts.cudaFit as { verdict?: string } | undefined)?.verdict === 'unsupported';
    if (!overran && foreseen && /generation/.test(r.step)) [r.result, r.code] = ['cuda-kernels-unsupported', 2];
  }
  const { text, json } = check.formatReport(r);
  console.log(text);
  if (opts.out) await writeFile(opts.out, `${JSON.stringify(json, null, 2)}\n`);
  return r.code;
}

async function main(): Promise<number> {
  const opts = check.parseOptions(process.argv.slice(2), process.env);
  if (process.env[CHILD_ENV] !== '1') return supervise(opts);
  const r = await runChild(opts);
  await new Promise<void>((resolve) => process.send!({ report: r, final: true }, () => resolve()));
  return r.code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('llama.cpp GPU check failed', err);
    // The measuring process leaves the report to its parent, which has this on stderr.
    if (process.env[CHILD_ENV] !== '1') console.log(`LLAMA_GPU_CHECK_JSON ${JSON.stringify({ at: new Date().toISOString(), result: 'error', exitCode: 3, notes: [check.errorText(err)] })}`);
    process.exit(3);
  },
);

