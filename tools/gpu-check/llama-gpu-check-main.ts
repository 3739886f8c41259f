/**
 * The llama.cpp GPU check (entry point; bundled by scripts/prepare-llama-gpu-check.sh, run by
 * scripts/llama-gpu-check.sh): runs the embedded engine (LlamaCppEngine with gpu 'auto', as a
 * worker with GPUs runs it) on a synthetic demo model of about --model-gb and reports
 *   - whether node-llama-cpp's prebuilt CUDA kernels can run on this GPU with this driver (the
 *     fit check the engine makes before it starts llama.cpp), what the engine asked node-llama-cpp
 *     for ('auto', or any backend but CUDA when they cannot) and the backend it got (llama.gpu:
 *     'cuda', 'vulkan' or false for the CPU), with the GPU and VRAM it reports, and the Vulkan
 *     loader and driver it could use,
 *   - the model's footprint: the ledger's estimate (engine.estimateFootprint), the NVML used
 *     delta around starting llama.cpp (engine.capacity(), as the worker does at start) and around
 *     engine.load (as worker/residency.ts takes it), and node-llama-cpp's figures,
 *   - start and load times (first load, reload) and, last, generation speed through
 *     engine.generate, on whichever backend the engine chose.
 * --force-cuda makes the engine try CUDA even where its kernels cannot run (the behaviour before
 * the fit check, which aborts at the first generation there): for documentation only.
 * The measuring runs in a child process, so a native abort (ggml aborts on a CUDA or Vulkan error)
 * or a hang past --deadline still ends in a report of what was measured and where it stopped.
 * Prints a markdown table and one `LLAMA_GPU_CHECK_JSON {...}` line.
 * Exit codes: 0 pass on CUDA, or the engine fell back from CUDA that cannot run here and generated
 * (FALLBACK-VULKAN, FALLBACK-CPU), or a run without CUDA allowed by --allow-cpu; 1 on a GPU backend
 * but not fully offloaded; 2 no CUDA (where it could run) or no NVML, or CUDA kernels that cannot
 * run on this GPU and generation aborted (--force-cuda), with the reasons; 3 a step failed, the
 * process died or ran out of time.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { pino } from 'pino';
import type { EngineCapacity } from '../../worker/engines/port/engine.ts';
import { llamaGpuRequest, type LlamaGpuRequest } from '../../worker/engines/llama-cpp/gpu-backend.ts';
import { LlamaCppEngine } from '../../worker/engines/llama-cpp/llama-cpp-engine.ts';
import { cudaBackendPath, cudaFit, nvmlCudaFacts, readFatbin } from '../../worker/gpu/cuda-backend.ts';
import { createGpuReader, type GpuReader } from '../../worker/gpu/gpu-reader.ts';
import * as check from './llama-gpu-check.ts';
import type { Backend, LlamaGpuCheckOptions, Report } from './llama-gpu-check.ts';

const CHILD_ENV = 'LLAMA_GPU_CHECK_CHILD';
/**
 * --force-cuda: the engine checks the CUDA backend's fit through NVML; pointed at a library that
 * is not there its check reads 'unknown' (it never throws), so it asks for 'auto' and gets CUDA
 * first, as before the check existed. The check's own NVML readings keep the real library.
 */
const FORCE_CUDA_NVML = '/nonexistent/llama-gpu-check-force-cuda/libnvidia-ml.so.1';
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
function backendOf(capacity: EngineCapacity): Backend {
  return (capacity.gpus[0]?.uuid.replace(/-\d+$/, '') as Backend | undefined) ?? 'cpu';
}

/** What the engine logged about its start: the request it made and the backend it got. */
interface EngineLog {
  /** 'llama.cpp started': llama.gpu and the fit verdict as the engine saw them. */
  started?: { backend: string | false; cudaFit: string | null };
  /** The engine's warning that it asked for any backend but CUDA, with the fit check's reason. */
  fallback?: { reason?: string };
  /** llama.cpp's own warnings, relayed by the engine (the last 20). */
  llamaCpp: string[];
}

/** A pino logger for the engine that keeps what EngineLog needs and echoes warnings (or LOG_LEVEL) to stderr. */
function engineLogger(into: EngineLog) {
  const echo = pino.levels.values[process.env.LOG_LEVEL ?? 'warn'] ?? 40;
  const stream = {
    write(line: string) {
      try {
        const o = JSON.parse(line) as { level: number; msg?: string; backend?: string | false; cudaFit?: string | null; reason?: string; message?: string };
        if (o.msg === 'llama.cpp started') into.started = { backend: o.backend ?? false, cudaFit: o.cudaFit ?? null };
        else if (o.msg?.startsWith('llama.cpp: the CUDA backend cannot run')) into.fallback = { ...(o.reason ? { reason: o.reason } : {}) };
        else if (o.msg === 'llama.cpp' && o.message) into.llamaCpp = [...into.llamaCpp, o.message].slice(-20);
        if (o.level >= echo) process.stderr.write(line);
      } catch {
        process.stderr.write(line);
      }
    },
  };
  // At least info, so 'llama.cpp started' arrives; lower where LOG_LEVEL asks for more.
  const level = echo < (pino.levels.values.info ?? 30) ? (process.env.LOG_LEVEL ?? 'info') : 'info';
  return pino({ name: 'llama-gpu-check', level }, stream);
}

/** The request the engine made, as the report shows it. */
function describeRequest(request: LlamaGpuRequest): string {
  return typeof request === 'object' ? `{ type: 'auto', exclude: ['cuda'] }` : String(request);
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

/** Load, reload, then generate (the step most likely to abort, so last) on whichever backend the engine chose. */
async function measure(engine: LlamaCppEngine, engineLog: EngineLog, reader: GpuReader, name: string, opts: LlamaGpuCheckOptions, r: Report): Promise<void> {
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

  // As the worker does at start: engine.capacity() starts llama.cpp (the fit check, backend
  // detection and its binary test, the GPU context), so the first load measures the model alone.
  step(r, 'start llama.cpp: engine.capacity() (fit check, backend choice and its binary test, GPU context)');
  const idle = await check.stableGpuUsedBytes(reader);
  const startT = performance.now();
  const startedCapacity = await engine.capacity();
  const startMs = Math.round(performance.now() - startT);
  const before = await check.stableGpuUsedBytes(reader);
  const startDelta = idle !== null && before !== null ? before - idle : null;
  r.backend = backendOf(startedCapacity);
  r.facts.llamaStart = { ms: startMs, nvmlBeforeBytes: idle, nvmlAfterBytes: before, nvmlDeltaBytes: startDelta };

  const fit = (r.facts.cudaFit as { verdict?: 'sass' | 'ptx-jit' | 'unsupported' | 'unknown' } | undefined)?.verdict ?? null;
  // From the engine's own log: its fallback warning, or the fit verdict it started with (the request follows from it).
  const engineFit = engineLog.started?.cudaFit;
  const requested: LlamaGpuRequest = engineLog.fallback || engineFit === 'unsupported' ? { type: 'auto', exclude: ['cuda'] } : 'auto';
  const expected = opts.forceCuda ? 'auto' : llamaGpuRequest('auto', fit ? { verdict: fit, reason: '' } : null);
  r.facts.engine = {
    request: describeRequest(requested),
    llamaGpu: r.backend === 'cpu' ? false : r.backend,
    cudaFitAsSeenByEngine: engineLog.started?.cudaFit ?? null,
    forceCuda: opts.forceCuda,
    fallbackReason: engineLog.fallback?.reason ?? null,
  };
  const device = startedCapacity.gpus[0];
  r.facts.llamaGpu = device ? { gpu: r.backend, name: device.name, totalBytes: device.memoryTotalBytes, freeBytesBeforeLoad: device.memoryFreeBytes } : null;
  const backendRow: check.ReportRow = {
    measurement: "llama.gpu (the engine's backend)",
    value: r.backend === 'cpu' ? 'false (CPU)' : r.backend,
    note: device ? `${device.name || '(no device name)'}; VRAM ${mib(device.memoryTotalBytes)} total, ${mib(device.memoryFreeBytes)} free before load` : 'no GPU device',
  };
  // First in the table, and there before the first load (in case that is where it stops).
  r.rows.unshift(
    {
      measurement: "engine's backend request (getLlama gpu)",
      value: describeRequest(requested),
      note: opts.forceCuda
        ? '--force-cuda: the engine\'s fit check was pointed at no NVML, so it read unknown and asked for auto (CUDA first)'
        : typeof requested === 'object'
          ? 'the fit check ruled CUDA out: Vulkan if node-llama-cpp finds its loader and a driver, else the CPU'
          : `the fit check read ${engineLog.started?.cudaFit ?? 'nothing'}: CUDA first, then Vulkan, then the CPU`,
    },
    backendRow,
  );
  if (describeRequest(requested) !== describeRequest(expected)) {
    r.notes.push(`the engine asked for ${describeRequest(requested)} where the fit check (${fit ?? 'none'}) calls for ${describeRequest(expected)}`);
  }
  if (r.backend === 'cuda' && fit === 'unsupported') {
    r.notes.push(opts.forceCuda ? '--force-cuda: on CUDA although its kernels cannot run here; expected to abort at the first generation' : 'the engine chose CUDA although its kernels cannot run here; expected to abort at the first generation');
  }
  if (r.backend !== 'cuda') r.notes.push(`node-llama-cpp did not load CUDA: the engine runs on ${r.backend === 'cpu' ? 'the CPU' : r.backend}`);
  if (r.backend === 'vulkan' && device && !(device.memoryTotalBytes > 0)) {
    r.notes.push('Vulkan loaded but reports no device memory: its loader found no usable GPU driver (ggml_vulkan: No devices found), so the layers stay on the CPU');
  }
  step(r, `first load on ${r.backend}`);
  const first = await engine.load(name);
  const after = await check.stableGpuUsedBytes(reader);
  const loadedDevice = (await engine.capacity()).gpus[0];
  if (loadedDevice) backendRow.note = `${backendRow.note}, ${mib(loadedDevice.memoryFreeBytes)} free after load`;
  const firstDelta = before !== null && after !== null ? after - before : null;
  const startAndFirst = idle !== null && after !== null ? after - idle : null;
  // worker/residency.ts: the NVML delta when there are GPUs, else what the engine reports.
  const measured = Math.max(firstDelta ?? 0, first.sizeVramBytes) || first.sizeBytes;
  r.facts.firstLoad = { loadMs: first.loadMs, nvmlBeforeBytes: before, nvmlAfterBytes: after, nvmlDeltaBytes: firstDelta, nvmlStartAndLoadDeltaBytes: startAndFirst, sizeBytes: first.sizeBytes, sizeVramBytes: first.sizeVramBytes, fabricMeasuredBytes: measured };
  const context = r.backend === 'cpu' ? 'no GPU backend' : `the ${r.backend} context`;
  r.rows.push(
    { measurement: 'NVML used delta, llama.cpp start', value: mib(startDelta), note: `engine.capacity() before any load (${context}); the estimate counts ${mib(estimate.overheadBytes)} overhead for it and the compute buffers` },
    { measurement: 'start time, llama.cpp', value: `${startMs} ms`, note: 'engine.capacity(): fit check, getLlama (backend detection, binary test), device info' },
    { measurement: 'NVML used delta, first load', value: mib(firstDelta), vsEstimate: diff(firstDelta, est), note: 'around engine.load after the start, as worker/residency.ts records it now: the model, its KV cache and compute buffers' },
    { measurement: 'NVML used delta, start + first load', value: mib(startAndFirst), vsEstimate: diff(startAndFirst, est), note: `what the first load cost when it also started llama.cpp (the 2026-11-27 reading's "first load")` },
    { measurement: 'node-llama-cpp VRAM (model + context)', value: mib(first.sizeVramBytes), vsEstimate: diff(first.sizeVramBytes, est), note: `LoadResult.sizeVramBytes; RAM + VRAM ${mib(first.sizeBytes)}` },
    { measurement: 'fabric measured footprint (recorded)', value: mib(measured), vsEstimate: diff(measured, est), note: 'max(NVML delta first load, sizeVramBytes) || sizeBytes' },
    { measurement: 'load time, first load', value: `${first.loadMs} ms`, note: 'LoadResult.loadMs: loadModel + createContext (llama.cpp already started)' },
  );
  const fullyOffloaded = first.sizeVramBytes >= 0.9 * estimate.weightsBytes;
  r.facts.fullyOffloaded = fullyOffloaded;
  if (r.backend !== 'cpu' && !fullyOffloaded) r.notes.push(`only ${mib(first.sizeVramBytes)} of ${mib(estimate.weightsBytes)} weights went to VRAM`);

  step(r, `unload, then reload (llama.cpp and its ${r.backend === 'cpu' ? 'backends' : `${r.backend} context`} stay up)`);
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
    { measurement: 'NVML used delta, reload', value: mib(reloadDelta), vsEstimate: diff(reloadDelta, est), note: 'the model again, file in the page cache' },
    { measurement: 'node-llama-cpp device used delta, reload', value: mib(llamaDelta), vsEstimate: diff(llamaDelta, est), note: 'llama.getVramState() through engine.capacity()' },
    { measurement: 'load time, reload', value: `${second.loadMs} ms`, note: 'file in the page cache' },
  );

  step(r, `warm-up generation (${WARMUP_TOKENS} tokens on ${r.backend}: first launch of each kernel${r.backend === 'cuda' && fit ? `; CUDA fit ${fit}` : ''})`);
  const warmup = await timedGenerate(engine, name, WARMUP_TOKENS, 1);
  r.rows.push({ measurement: 'first generation (warm-up)', value: `${warmup.wallMs} ms`, note: `${warmup.completionTokens} tokens on ${r.backend}; includes the first launch of each kernel` });
  step(r, `timed generations on ${r.backend}: ${opts.runs} x ${opts.tokens} tokens`);
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
      measurement: `generation speed (${opts.tokens} tokens, ${r.backend})`,
      value: decode === null ? 'n/a' : `${decode.toFixed(1)} tokens/s`,
      note: `median of ${opts.runs}: ${runs.map((g) => `${g.completionTokens} tok in ${g.wallMs} ms`).join(', ')}; threads ${opts.threads}`,
    },
    { measurement: 'prompt evaluation', value: prompt === null ? 'n/a' : `${prompt.toFixed(1)} tokens/s`, note: `${runs[0]?.promptTokens ?? 0}-token prompt, to first token` },
  );
  await engine.unload(name);
  const v = check.verdict({ backend: r.backend as Backend, fit, forceCuda: opts.forceCuda, allowCpu: opts.allowCpu, fullyOffloaded });
  [r.result, r.code] = [v.result, v.code];
  if (v.note) r.notes.push(v.note);
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
  const vulkan = await check.probeVulkan();
  r.facts.vulkan = vulkan;
  r.rows.push({
    measurement: 'Vulkan loader (libvulkan.so.1)',
    value: vulkan.loader.loadable ? 'loads' : 'missing',
    note: [
      vulkan.loader.foundIn ? `in ${vulkan.loader.foundIn}` : "in none of node-llama-cpp's search folders (it then skips Vulkan)",
      vulkan.icds.length > 0 ? `ICD ${vulkan.icds.map((i) => `${i.path} (${i.libraryPath ?? '?'}, API ${i.apiVersion ?? '?'})`).join(', ')}` : 'no ICD json (VK_DRIVER_FILES, /usr/share/vulkan/icd.d, /etc/vulkan/icd.d)',
      vulkan.backendLoadError ?? 'libggml-vulkan.so loads',
    ].join('; '),
  });

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
    if (fit.verdict === 'unsupported') {
      r.notes.push(
        opts.forceCuda
          ? `--force-cuda: CUDA is expected to load and to abort at the first generation: ${fit.reason}`
          : `CUDA cannot run here, so the engine is expected to ask for any other backend (Vulkan, else the CPU) and generate: ${fit.reason}`,
      );
    }
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

  const engineLog: EngineLog = { llamaCpp: [] };
  const logger = engineLogger(engineLog);
  const memoryBytes = Math.max(totalmem(), ...gpus.map((g) => g.memoryTotalBytes ?? 0));
  const engine = new LlamaCppEngine(
    {
      modelsDir: opts.modelsDir,
      threads: opts.threads,
      contextSize: opts.contextSize,
      slotsPerModel: opts.slots,
      memoryBytes,
      gpu: 'auto',
      nvmlLibrary: opts.forceCuda ? FORCE_CUDA_NVML : opts.nvmlLibrary,
    },
    { logger },
  );
  try {
    await measure(engine, engineLog, reader, spec.name, opts, r);
  } catch (err) {
    r.notes.push(`step failed (${r.step}): ${check.errorText(err)}`);
    [r.result, r.code] = ['failed', 3];
  } finally {
    await engine.close();
    r.facts.nvmlUsedAfterCloseBytes = await check.stableGpuUsedBytes(reader).catch(() => null);
    await reader.close();
    if (engineLog.llamaCpp.length > 0) r.facts.llamaCppWarnings = engineLog.llamaCpp;
  }
  const fitVerdict = (r.facts.cudaFit as { verdict?: string } | undefined)?.verdict;
  // CUDA was expected (its kernels can run here, or --force-cuda): say why it did not load.
  if (r.backend !== 'cuda' && (fitVerdict !== 'unsupported' || opts.forceCuda)) r.notes.push(...(await whyNoCuda()));
  // Not on Vulkan: what node-llama-cpp's Vulkan backend sees here, from a process of its own.
  // (Not when its backend library cannot even load: the Vulkan loader row says why.)
  if (r.backend !== 'vulkan' && r.backend !== 'cuda' && vulkan.backend && !vulkan.backendLoadError) {
    step(r, 'Vulkan probe (why not Vulkan)');
    const probe = await check.probeVulkanDevices();
    r.facts.vulkanProbe = probe;
    if (probe) {
      r.rows.push({
        measurement: 'Vulkan backend probe',
        value:
          probe.gpu === 'vulkan'
            ? probe.deviceNames.length > 0 ? `vulkan: ${probe.deviceNames.join(', ')}` : 'vulkan, no device'
            : probe.gpu === false ? 'false (no Vulkan GPU)' : 'failed',
        note: [probe.error, probe.supported === true ? null : probe.supported, ...probe.log.slice(-4)].filter((x) => x).join(' | ') || 'no messages',
      });
    }
  }
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
    const clues = tail.split('\n').filter((l) => /cuda error|vulkan|vk::|ggml_vk|error:|abort|unsupported|assert|out of memory/i.test(l));
    if (clues.length > 0) r.notes.push(`its last error lines: ${clues.slice(-6).join(' | ')}`);
    [r.result, r.code] = [overran ? 'timeout' : 'crashed', 3];
    // The abort cudaFit foresaw: CUDA loads (forced, or the engine failed to avoid it), but this GPU
    // cannot run the backend's kernels with this driver.
    const foreseen = (r.facts.cudaFit as { verdict?: string } | undefined)?.verdict === 'unsupported';
    if (!overran && foreseen && r.backend === 'cuda' && /generation/.test(r.step)) [r.result, r.code] = ['cuda-kernels-unsupported', 2];
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

