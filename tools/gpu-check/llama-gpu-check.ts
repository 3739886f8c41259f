/**
 * Parts of the llama.cpp GPU check (tools/gpu-check/llama-gpu-check-main.ts) that are not the run
 * itself: its options, the synthetic model it loads (a demo model scaled up to a size given in
 * bytes), the CUDA libraries node-llama-cpp's prebuilt CUDA backend links and looks for, the
 * Vulkan loader and driver its Vulkan backend needs, NVML readings as the worker takes them, the
 * verdict and the report.
 */
import { cudaBackendPath, type CudaFit } from '../../worker/gpu/cuda-backend.ts';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { envBool, parseBytes } from '../../protocol/env.ts';
import { ensureDemoModels, type DemoModelFile, type DemoModelSpec } from '../../worker/engines/llama-cpp/demo-models.ts';
import { LLAMA_CPP_DEFAULTS } from '../../worker/engines/llama-cpp/engine-options.ts';
import type { GpuReader } from '../../worker/gpu/gpu-reader.ts';
import { DEFAULT_NVML_LIBRARY } from '../../worker/gpu/nvml.ts';

export const GB = 1e9;
export const MiB = 1024 * 1024;

export interface LlamaGpuCheckOptions {
  /** Size of the synthetic model's weights (F32). */
  modelBytes: number;
  /** llama.cpp threads (getLlama maxThreads and each context), set explicitly rather than llama.cpp's guess. */
  threads: number;
  /** Tokens per slot and slots, as the worker configures the engine. */
  contextSize: number;
  slots: number;
  /** Tokens per timed generation, and how many timed generations (the median is reported). */
  tokens: number;
  runs: number;
  /** Where the model is written; an existing file of the same shape is reused. */
  modelsDir: string;
  /** Accept a run without CUDA (on the CPU or Vulkan) on a machine where CUDA could run, instead of exit 2 (the bundle's own test). */
  allowCpu: boolean;
  /**
   * The old behaviour, for documentation only: make the engine try CUDA even where its kernels
   * cannot run (it then aborts at the first generation). Default: the engine's own choice.
   */
  forceCuda: boolean;
  nvmlLibrary: string;
  out: string | null;
  /** Seconds the measuring process may take before it is killed and what it found is reported (under a device call's 600). */
  deadlineSeconds: number;
}

export const LLAMA_GPU_CHECK_DEFAULTS: LlamaGpuCheckOptions = {
  modelBytes: 1.2 * GB,
  threads: Math.min(4, Math.max(1, availableParallelism() - 1)),
  contextSize: LLAMA_CPP_DEFAULTS.contextSize,
  slots: LLAMA_CPP_DEFAULTS.slotsPerModel,
  tokens: 128,
  runs: 3,
  modelsDir: join(tmpdir(), 'fabric-llama-gpu-check-models'),
  allowCpu: false,
  forceCuda: false,
  nvmlLibrary: DEFAULT_NVML_LIBRARY,
  out: null,
  deadlineSeconds: 480,
};

const USAGE =
  'usage: llama-gpu-check [--model-gb=1.2] [--threads=N] [--context=2048] [--slots=2] [--tokens=128] [--runs=3] ' +
  '[--models-dir=DIR] [--allow-cpu] [--force-cuda] [--library=libnvidia-ml.so.1] [--out=FILE] [--deadline=480]';

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): LlamaGpuCheckOptions {
  const flags = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument ${a}; ${USAGE}`);
    flags.set(m[1]!, m[2] ?? 'true');
  }
  const known = ['model-gb', 'threads', 'context', 'slots', 'tokens', 'runs', 'models-dir', 'allow-cpu', 'force-cuda', 'library', 'out', 'deadline'];
  const unknown = [...flags.keys()].filter((k) => !known.includes(k));
  if (unknown.length > 0) throw new Error(`unknown option --${unknown.join(', --')}; ${USAGE}`);
  const d = LLAMA_GPU_CHECK_DEFAULTS;
  const value = (flag: string, envName: string) => flags.get(flag) ?? (env[envName] || undefined);
  const int = (flag: string, envName: string, fallback: number) => {
    const v = value(flag, envName);
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got ${v}`);
    return n;
  };
  const gb = value('model-gb', 'LLAMA_GPU_CHECK_MODEL_GB');
  const modelBytes = gb === undefined ? d.modelBytes : /[a-z]/i.test(gb) ? parseBytes(gb) : Number(gb) * GB;
  if (!(modelBytes > 0)) throw new Error(`--model-gb must be a positive number of GB, got ${gb}`);
  return {
    modelBytes,
    threads: int('threads', 'LLAMA_GPU_CHECK_THREADS', d.threads),
    contextSize: int('context', 'LLAMA_GPU_CHECK_CONTEXT', d.contextSize),
    slots: int('slots', 'LLAMA_GPU_CHECK_SLOTS', d.slots),
    tokens: int('tokens', 'LLAMA_GPU_CHECK_TOKENS', d.tokens),
    runs: int('runs', 'LLAMA_GPU_CHECK_RUNS', d.runs),
    modelsDir: value('models-dir', 'LLAMA_GPU_CHECK_MODELS_DIR') ?? d.modelsDir,
    allowCpu: flags.has('allow-cpu') ? flags.get('allow-cpu') !== 'false' : envBool(env, 'LLAMA_GPU_CHECK_ALLOW_CPU', d.allowCpu),
    forceCuda: flags.has('force-cuda') ? flags.get('force-cuda') !== 'false' : envBool(env, 'LLAMA_GPU_CHECK_FORCE_CUDA', d.forceCuda),
    nvmlLibrary: value('library', 'FABRIC_NVML_LIBRARY') ?? d.nvmlLibrary,
    out: value('out', 'LLAMA_GPU_CHECK_OUT') ?? d.out,
    deadlineSeconds: int('deadline', 'LLAMA_GPU_CHECK_DEADLINE', d.deadlineSeconds),
  };
}

/** Vocabulary of the demo models: a few hundred tokens, so embeddings are small beside the layers. */
const APPROX_VOCAB = 600;
/** Fewest layers a shape may have before a narrower one is preferred. */
const MIN_LAYERS = 4;
const WIDTHS = [2048, 1024, 512, 256, 128] as const;

/** F32 bytes of one layer of a llama-shaped model with grouped-query attention (4 query heads per kv head). */
function layerBytes(d: number): number {
  const kv = d / 4;
  const ffn = feedForward(d);
  return 4 * (2 * d * d + 2 * d * kv + 3 * d * ffn + 2 * d);
}

/** 2.75 x width rounded to 128, as llama-style models size their feed-forward blocks. */
function feedForward(d: number): number {
  return Math.round((2.75 * d) / 128) * 128;
}

/**
 * The widest llama-style shape (head dim 128 where the width allows) with at least MIN_LAYERS
 * layers whose F32 weights come to about `targetBytes`. Weights are F32 so the demo-model
 * writer copies them into the file as they are (it converts to F16 one value at a time).
 */
export function syntheticModelSpec(targetBytes: number, seed = 11): DemoModelSpec {
  if (!(targetBytes > 0)) throw new Error(`model size must be positive, got ${targetBytes}`);
  const embeddings = (d: number) => 2 * 4 * APPROX_VOCAB * d;
  const d: number = WIDTHS.find((w) => (targetBytes - embeddings(w)) / layerBytes(w) >= MIN_LAYERS - 0.5) ?? 128;
  const layers = Math.max(1, Math.round((targetBytes - embeddings(d)) / layerBytes(d)));
  const heads = Math.max(2, d / 128);
  return {
    name: `fabric-gpu-check-d${d}-l${layers}`,
    embeddingLength: d,
    layers,
    heads,
    kvHeads: Math.max(1, heads / 4),
    feedForwardLength: feedForward(d),
    contextLength: 8192,
    tensorType: 'f32',
    seed,
  };
}

/** Writes the model unless the folder has it already (same name, same shape); returns the file and the time taken. */
export async function ensureSyntheticModel(dir: string, spec: DemoModelSpec): Promise<DemoModelFile & { writeMs: number }> {
  const started = performance.now();
  const [file] = await ensureDemoModels(dir, [spec]);
  if (!file) throw new Error(`no model written for ${spec.name}`);
  return { ...file, writeMs: Math.round(performance.now() - started) };
}

/**
 * What `libggml-cuda.so` of @node-llama-cpp/linux-x64-cuda links (readelf NEEDED: CUDA 13
 * runtime and cuBLAS, the driver), plus the two files node-llama-cpp looks for before it tries
 * CUDA at all (`libnvidia-ml.so.1` for the driver, `libcublasLt.so.13` beside cuBLAS).
 */
export const CUDA_LIBRARIES = ['libcuda.so.1', 'libnvidia-ml.so.1', 'libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13'] as const;

export interface LibraryProbe {
  name: string;
  /** dlopen by name succeeded (what the dynamic linker will do for libggml-cuda.so). */
  loadable: boolean;
  /** The folder where node-llama-cpp's detection finds the file (it only checks these folders); null if none. */
  foundIn: string | null;
  error?: string;
}

/**
 * The folders node-llama-cpp searches when gpu is 'auto' (detectAvailableComputeLayers on Linux),
 * less a CUDA toolkit's own folders (`/usr/local/cuda-<version>/targets/<arch>/lib`).
 */
export function cudaSearchDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [
    ...(env.PATH ?? '').split(delimiter),
    ...(env.LD_LIBRARY_PATH ?? '').split(delimiter),
    ...(env.CUDA_PATH ?? '').split(delimiter),
    '/usr/lib',
    '/usr/lib64',
    '/usr/lib/x86_64-linux-gnu',
  ];
  return [...new Set(dirs.filter((d) => d.length > 0))];
}

/** Tries to dlopen each CUDA library (through koffi) and to find it where node-llama-cpp looks. */
export async function probeCudaLibraries(env: NodeJS.ProcessEnv = process.env): Promise<LibraryProbe[]> {
  let koffi: typeof import('koffi').default | undefined;
  let koffiError = '';
  try {
    koffi = (await import('koffi')).default;
  } catch (err) {
    koffiError = `koffi unavailable: ${errorText(err)}`;
  }
  const dirs = cudaSearchDirs(env);
  return CUDA_LIBRARIES.map((name) => {
    const foundIn = dirs.find((d) => existsSync(join(d, name))) ?? null;
    if (!koffi) return { name, loadable: false, foundIn, error: koffiError };
    try {
      koffi.load(name);
      return { name, loadable: true, foundIn };
    } catch (err) {
      return { name, loadable: false, foundIn, error: errorText(err) };
    }
  });
}

/** One line per library that would stop CUDA: not loadable, or not where node-llama-cpp looks. */
export function missingLibraries(probes: readonly LibraryProbe[]): string[] {
  return probes
    .filter((p) => !p.loadable || p.foundIn === null)
    .map((p) => (p.loadable ? `${p.name} (loadable, but in none of node-llama-cpp's search folders: add its folder to LD_LIBRARY_PATH)` : `${p.name} (${p.error ?? 'not loadable'})`));
}

/**
 * dlopen of the prebuilt CUDA backend, so the dynamic linker names the first library it cannot
 * find; null when it loads. Only for the report when CUDA was not used.
 */
export async function cudaBackendLoadError(): Promise<string | null> {
  const path = await cudaBackendPath();
  if (!path) return '@node-llama-cpp/linux-x64-cuda is not installed';
  try {
    (await import('koffi')).default.load(path);
    return null;
  } catch (err) {
    return `dlopen ${path}: ${errorText(err)}`;
  }
}

/** Path of `libggml-vulkan.so` in @node-llama-cpp/linux-x64-vulkan (and its addon), as node-llama-cpp finds them; null when not installed. */
export async function vulkanBackendPaths(): Promise<{ backend: string; addon: string } | null> {
  const pkg = '@node-llama-cpp/linux-x64-vulkan';
  try {
    const bins = (await import(pkg)) as { getBinsDir(): { binsDir: string } };
    const dir = join(bins.getBinsDir().binsDir, 'linux-x64-vulkan');
    return { backend: join(dir, 'libggml-vulkan.so'), addon: join(dir, 'llama-addon.node') };
  } catch {
    return null;
  }
}

export interface VulkanFacts {
  /** dlopen('libvulkan.so.1') succeeded; where node-llama-cpp's detection finds it (it tries Vulkan only then). */
  loader: { loadable: boolean; foundIn: string | null; error?: string };
  /** ICD (driver) files the loader is pointed at (VK_DRIVER_FILES / VK_ICD_FILENAMES) or finds in its usual folders. */
  icds: Array<{ path: string; libraryPath: string | null; apiVersion: string | null }>;
  /** @node-llama-cpp/linux-x64-vulkan's backend library, or null when the package is not installed. */
  backend: string | null;
  /** dlopen of that backend: null when it loads. */
  backendLoadError: string | null;
}

const ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d'];

/** What node-llama-cpp's Vulkan backend needs: the loader where it looks, and a driver for the loader. */
export async function probeVulkan(env: NodeJS.ProcessEnv = process.env): Promise<VulkanFacts> {
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(delimiter), '/usr/lib', '/usr/lib64', '/usr/lib/x86_64-linux-gnu'].filter((d) => d.length > 0);
  const foundIn = dirs.find((d) => existsSync(join(d, 'libvulkan.so.1')) || existsSync(join(d, 'libvulkan.so'))) ?? null;
  let koffi: typeof import('koffi').default | undefined;
  const loader: VulkanFacts['loader'] = { loadable: false, foundIn };
  try {
    koffi = (await import('koffi')).default;
    koffi.load('libvulkan.so.1');
    loader.loadable = true;
  } catch (err) {
    loader.error = errorText(err);
  }
  const pointed = [env.VK_DRIVER_FILES, env.VK_ICD_FILENAMES].flatMap((v) => (v ?? '').split(delimiter)).filter((f) => f.length > 0);
  const listed = ICD_DIRS.flatMap((d) => {
    try {
      return readdirJson(d);
    } catch {
      return [];
    }
  });
  const icds = [...new Set(pointed.length > 0 ? pointed : listed)].map((path) => {
    try {
      const icd = (JSON.parse(readFileSync(path, 'utf8')) as { ICD?: { library_path?: string; api_version?: string } }).ICD;
      return { path, libraryPath: icd?.library_path ?? null, apiVersion: icd?.api_version ?? null };
    } catch {
      return { path, libraryPath: null, apiVersion: null };
    }
  });
  const paths = await vulkanBackendPaths();
  let backendLoadError: string | null = paths ? null : '@node-llama-cpp/linux-x64-vulkan is not installed';
  if (paths && koffi) {
    try {
      koffi.load(paths.backend);
    } catch (err) {
      backendLoadError = `dlopen ${paths.backend}: ${errorText(err)}`;
    }
  }
  return { loader, icds, backend: paths?.backend ?? null, backendLoadError };
}

function readdirJson(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => join(dir, f));
}

export interface VulkanDeviceProbe {
  /** getGpuType() of node-llama-cpp's Vulkan addon after loading its backends and init(): 'vulkan', or false when Vulkan found no driver. */
  gpu: string | false | null;
  deviceNames: string[];
  vramTotalBytes: number | null;
  /** ensureGpuDeviceIsSupported(): true, or its error. */
  supported: true | string | null;
  /** llama.cpp's own lines (ggml_vulkan: ..., Vulkan warning: ...). */
  log: string[];
  error?: string;
}

/**
 * What node-llama-cpp's binary test sees for the prebuilt Vulkan backend, in a process of its own
 * (a driver that crashes takes only that process): the backend it loads, Vulkan's devices and
 * llama.cpp's log lines about them. Only for the report.
 */
export async function probeVulkanDevices(timeoutMs = 60_000): Promise<VulkanDeviceProbe | null> {
  const paths = await vulkanBackendPaths();
  if (!paths) return null;
  const script = [
    "const b = require(process.argv[1]);",
    'b.setLoggerLogLevel(5);',
    'b.loadBackends();',
    'let gpu = b.getGpuType();',
    "if (gpu == null || gpu === false) { b.loadBackends(require('node:path').dirname(process.argv[1])); gpu = b.getGpuType(); }",
    'b.init().then(() => {',
    '  const out = { gpu: b.getGpuType() ?? null, deviceNames: b.getGpuDeviceInfo().deviceNames, vramTotalBytes: b.getGpuVramInfo().total, supported: true };',
    '  try { b.ensureGpuDeviceIsSupported(); } catch (e) { out.supported = String(e); }',
    "  console.log('VULKAN_PROBE ' + JSON.stringify(out));",
    '  process.exit(0);',
    '});',
  ].join('\n');
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=commonjs', '-e', script, paths.addon], { timeout: timeoutMs, cwd: dirname(paths.addon) }, (err, stdout, stderr) => {
      // llama.cpp may end a warning without a newline, so the answer can share its line.
      const answer = /VULKAN_PROBE (\{.*\})/.exec(stdout);
      const log = `${stdout}\n${stderr}`
        .replace(/VULKAN_PROBE \{.*\}/, '')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => /vulkan|ggml_vk|vk::|device/i.test(l) && !/^load_backend: loaded CPU/.test(l));
      if (!answer) {
        const why = stderr.split('\n').find((l) => /^\w*Error\b/.test(l.trim())) ?? (err ? (err.killed ? `killed after ${timeoutMs} ms` : `exit ${err.code ?? err.signal}`) : 'no answer');
        resolve({ gpu: null, deviceNames: [], vramTotalBytes: null, supported: null, log: log.slice(-6), error: why.trim() });
        return;
      }
      const out = JSON.parse(answer[1]!) as Omit<VulkanDeviceProbe, 'log'>;
      resolve({ ...out, log: log.slice(-6) });
    });
  });
}

/** A backend as the report names it: node-llama-cpp's llama.gpu, with false as 'cpu'. */
export type Backend = 'cuda' | 'vulkan' | 'cpu' | 'metal';

export interface Verdict {
  result: string;
  code: number;
  note?: string;
}

/**
 * The verdict once generation has completed on `backend` (the engine's choice). Exit 0: CUDA with
 * its kernels, fully offloaded (pass); CUDA ruled out by the fit check and the engine fell back to
 * Vulkan (fully offloaded) or the CPU and generated (fallback-vulkan, fallback-cpu); a run without
 * CUDA allowed by --allow-cpu (cpu-only, vulkan-only). Exit 1: a GPU backend that did not take all
 * the weights. Exit 2: CUDA could run here (or was forced) but did not load (no-cuda).
 */
export function verdict(input: { backend: Backend; fit: CudaFit['verdict'] | null; forceCuda: boolean; allowCpu: boolean; fullyOffloaded: boolean }): Verdict {
  const { backend, fit, forceCuda, allowCpu, fullyOffloaded } = input;
  const partial: Verdict = { result: 'partial-offload', code: 1 };
  if (backend === 'cuda') {
    if (!fullyOffloaded) return partial;
    return fit === 'unsupported'
      ? { result: 'pass', code: 0, note: 'generated on CUDA although the fit check said its kernels cannot run here: the fit check is wrong for this GPU and driver' }
      : { result: 'pass', code: 0 };
  }
  if (fit === 'unsupported' && !forceCuda) {
    if (backend === 'cpu') return { result: 'fallback-cpu', code: 0 };
    return fullyOffloaded ? { result: `fallback-${backend}`, code: 0 } : { ...partial, note: `the engine fell back to ${backend}, which did not take all the weights` };
  }
  if (allowCpu && !forceCuda) {
    if (backend !== 'cpu' && !fullyOffloaded) return partial;
    return { result: `${backend}-only`, code: 0, note: `no CUDA; accepted because --allow-cpu / LLAMA_GPU_CHECK_ALLOW_CPU=1 was given` };
  }
  return { result: 'no-cuda', code: 2 };
}

/** Bytes in use on every GPU the reader sees, summed as the worker does; null without GPUs. */
export async function gpuUsedBytes(reader: GpuReader): Promise<number | null> {
  const gpus = await reader.read();
  if (gpus.length === 0 || gpus.some((g) => g.memoryUsedBytes === null)) return null;
  return gpus.reduce((sum, g) => sum + (g.memoryUsedBytes ?? 0), 0);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads until `used` holds still for two reads 250 ms apart (the driver settles within a few hundred ms). */
export async function stableGpuUsedBytes(reader: GpuReader): Promise<number | null> {
  let last = await gpuUsedBytes(reader);
  if (last === null) return null;
  for (let i = 0; i < 20; i++) {
    await sleep(250);
    const next = await gpuUsedBytes(reader);
    if (next === last) return next;
    last = next;
  }
  return last;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return 'unavailable';
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** `+12.3 MiB (+1.2%)` against a reference; empty when either side is unknown. */
export function formatDiff(value: number | null | undefined, reference: number | null | undefined): string {
  if (value === null || value === undefined || reference === null || reference === undefined || reference === 0) return '';
  const diff = value - reference;
  const sign = diff >= 0 ? '+' : '-';
  return `${sign}${(Math.abs(diff) / MiB).toFixed(1)} MiB (${sign}${((Math.abs(diff) / reference) * 100).toFixed(1)}%)`;
}

export interface ReportRow {
  measurement: string;
  value: string;
  /** Against the ledger's estimate, for footprint rows. */
  vsEstimate?: string;
  note?: string;
}

/** What the check found so far: sent from the measuring process after each step, printed once at the end. */
export interface Report {
  facts: Record<string, unknown>;
  rows: ReportRow[];
  notes: string[];
  result: string;
  code: number;
  backend: string;
  /** The step under way, named when the measuring process dies or runs out of time. */
  step: string;
}

export function newReport(opts: LlamaGpuCheckOptions): Report {
  const facts = { at: new Date().toISOString(), node: process.version, threads: opts.threads, contextSize: opts.contextSize, slots: opts.slots };
  return { facts, rows: [], notes: [], result: 'pass', code: 0, backend: 'cpu', step: 'start' };
}

/** The markdown table, the verdict and the `LLAMA_GPU_CHECK_JSON` line, as printed on stdout. */
export function formatReport(r: Report): { text: string; json: Record<string, unknown> } {
  const json = { ...r.facts, result: r.result, exitCode: r.code, notes: r.notes, rows: r.rows };
  const head = ['measurement', 'value', 'vs ledger estimate', 'note'];
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  const body = r.rows.map((row) => [row.measurement, row.value, row.vsEstimate ?? '', row.note ?? ''].map(escape));
  const table = [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
  const lines = [
    `llama.cpp GPU check ${String(r.facts.at)}: ${String(r.facts.nvmlGpu ?? 'no NVML GPU')}, node-llama-cpp backend ${r.backend}`,
    ...r.notes.map((n) => `  note: ${n}`),
    '',
    ...(r.rows.length > 0 ? [table, ''] : []),
    `result: ${r.result.toUpperCase()} (exit ${r.code})`,
    `LLAMA_GPU_CHECK_JSON ${JSON.stringify(json)}`,
  ];
  return { text: lines.join('\n'), json };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
