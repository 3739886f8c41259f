/**
 * The fallback GPU source: `nvidia-smi --query-gpu=... --format=csv,noheader,nounits`.
 * Parsing is pure (tested on captured text); running the command goes through an injectable exec.
 */
import { execFile } from 'node:child_process';
import type { GpuProcess, GpuSnapshot } from './gpu-snapshot.ts';

export const NVIDIA_SMI_GPU_FIELDS = [
  'index',
  'uuid',
  'name',
  'memory.total',
  'memory.used',
  'memory.free',
  'utilization.gpu',
] as const;

export const NVIDIA_SMI_APP_FIELDS = ['gpu_uuid', 'pid', 'used_memory'] as const;

const MIB = 1024 * 1024;

export function nvidiaSmiGpuArgs(): string[] {
  return [`--query-gpu=${NVIDIA_SMI_GPU_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];
}

export function nvidiaSmiAppArgs(): string[] {
  return [`--query-compute-apps=${NVIDIA_SMI_APP_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];
}

export type NvidiaSmiErrorKind = 'not-found' | 'failed' | 'parse';

/** nvidia-smi is absent (`not-found`), exited non-zero or timed out (`failed`), or printed something unexpected. */
export class NvidiaSmiError extends Error {
  override readonly name = 'NvidiaSmiError';

  readonly kind: NvidiaSmiErrorKind;
  constructor(
    kind: NvidiaSmiErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.kind = kind;
  }
}

/** `[N/A]`, `[Not Supported]`, `[Unknown Error]`, `[GPU requires reset]`...: any bracketed or N/A cell. */
function isUnavailable(cell: string): boolean {
  return cell === '' || cell === 'N/A' || /^\[.*\]$/.test(cell);
}

function numberCell(cell: string, field: string, line: string): number | null {
  if (isUnavailable(cell)) return null;
  const n = Number(cell);
  if (!Number.isFinite(n)) throw new NvidiaSmiError('parse', `nvidia-smi ${field} is not a number in ${JSON.stringify(line)}`);
  return n;
}

function mibToBytes(mib: number | null): number | null {
  return mib === null ? null : Math.round(mib * MIB);
}

/**
 * Splits a `noheader` CSV line into `expected` cells. nvidia-smi does not quote, so a name with
 * ", " in it spills into extra cells; they are joined back into the cell at `freeIndex`.
 */
function splitCells(line: string, expected: number, freeIndex: number): string[] {
  const cells = line.split(',').map((c) => c.trim());
  if (cells.length < expected) {
    throw new NvidiaSmiError('parse', `nvidia-smi line has ${cells.length} fields, expected ${expected}: ${JSON.stringify(line)}`);
  }
  const extra = cells.length - expected;
  const name = cells.slice(freeIndex, freeIndex + extra + 1).join(', ');
  return [...cells.slice(0, freeIndex), name, ...cells.slice(freeIndex + extra + 1)];
}

function dataLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Parses the `--query-gpu` answer (fields in NVIDIA_SMI_GPU_FIELDS order); MiB become bytes, N/A becomes null. */
export function parseNvidiaSmiCsv(text: string): GpuSnapshot[] {
  return dataLines(text).map((line) => {
    const [index, uuid, name, total, used, free, util] = splitCells(line, NVIDIA_SMI_GPU_FIELDS.length, 2) as [
      string, string, string, string, string, string, string,
    ];
    const idx = numberCell(index, 'index', line);
    if (idx === null || !Number.isInteger(idx)) throw new NvidiaSmiError('parse', `nvidia-smi index missing in ${JSON.stringify(line)}`);
    const utilization = numberCell(util, 'utilization.gpu', line);
    return {
      index: idx,
      uuid,
      name,
      memoryTotalBytes: mibToBytes(numberCell(total, 'memory.total', line)),
      memoryUsedBytes: mibToBytes(numberCell(used, 'memory.used', line)),
      memoryFreeBytes: mibToBytes(numberCell(free, 'memory.free', line)),
      utilization: utilization === null ? null : utilization / 100,
      memoryUtilization: null,
      processes: null,
    };
  });
}

export interface NvidiaSmiApp extends GpuProcess {
  gpuUuid: string;
}

/** Parses the `--query-compute-apps` answer (fields in NVIDIA_SMI_APP_FIELDS order). */
export function parseNvidiaSmiAppsCsv(text: string): NvidiaSmiApp[] {
  return dataLines(text)
    .filter((line) => !/^No running/i.test(line))
    .map((line) => {
      const [gpuUuid, pid, used] = splitCells(line, NVIDIA_SMI_APP_FIELDS.length, 0) as [string, string, string];
      const pidNumber = numberCell(pid, 'pid', line);
      if (pidNumber === null) throw new NvidiaSmiError('parse', `nvidia-smi pid missing in ${JSON.stringify(line)}`);
      return { gpuUuid, pid: pidNumber, usedBytes: mibToBytes(numberCell(used, 'used_memory', line)) };
    });
}

/** Runs a command and resolves with its stdout; rejects with an error carrying `code` (ENOENT, exit status). */
export type ExecFileFn = (file: string, args: string[], opts: { timeoutMs: number }) => Promise<string>;

export const execFileText: ExecFileFn = (file, args, opts) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { timeout: opts.timeoutMs, maxBuffer: 1 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve(stdout);
    });
  });

export interface NvidiaSmiOptions {
  /** Executable name or path. @defaultValue 'nvidia-smi' */
  command?: string;
  /** @defaultValue 5000 */
  timeoutMs?: number;
  exec?: ExecFileFn;
}

async function run(args: string[], opts: NvidiaSmiOptions): Promise<string> {
  const command = opts.command ?? 'nvidia-smi';
  try {
    return await (opts.exec ?? execFileText)(command, args, { timeoutMs: opts.timeoutMs ?? 5000 });
  } catch (err) {
    const e = err as { code?: unknown; stdout?: unknown; stderr?: unknown; message?: unknown };
    if (e.code === 'ENOENT') throw new NvidiaSmiError('not-found', `${command} is not installed or not on PATH`, { cause: err });
    const said = [e.stderr, e.stdout].map((s) => (typeof s === 'string' ? s.trim() : '')).find((s) => s !== '');
    const detail = said?.split('\n')[0] ?? String(e.message ?? err);
    throw new NvidiaSmiError('failed', `${command} failed (exit ${String(e.code)}): ${detail}`, { cause: err });
  }
}

/** One read of every GPU; processes come from a second query and stay null if that one fails. */
export async function readNvidiaSmi(opts: NvidiaSmiOptions = {}): Promise<GpuSnapshot[]> {
  const gpus = parseNvidiaSmiCsv(await run(nvidiaSmiGpuArgs(), opts));
  let apps: NvidiaSmiApp[] | null;
  try {
    apps = parseNvidiaSmiAppsCsv(await run(nvidiaSmiAppArgs(), opts));
  } catch {
    apps = null;
  }
  return gpus.map((g) => ({
    ...g,
    processes: apps?.filter((a) => a.gpuUuid === g.uuid).map(({ pid, usedBytes }) => ({ pid, usedBytes })) ?? null,
  }));
}
