/**
 * The GPU port: one reader per worker, backed by NVML when it loads, else by nvidia-smi, else
 * a "no GPU" reader (capacity then comes from configuration, e.g. FABRIC_VRAM_BYTES).
 */
import type { Logger } from '../../protocol/logger.ts';
import type { GpuSnapshot } from './gpu-snapshot.ts';
import { openNvml, type Nvml, type NvmlOptions } from './nvml.ts';
import { readNvidiaSmi, type NvidiaSmiOptions } from './nvidia-smi.ts';

export type { GpuProcess, GpuSnapshot } from './gpu-snapshot.ts';
export { toGpuInfo } from './gpu-snapshot.ts';

export type GpuSource = 'nvml' | 'nvidia-smi' | 'none';

export interface GpuReader {
  readonly source: GpuSource;
  /** Why this source, and why each source tried before it was not usable. */
  readonly reason: string;
  /** Every GPU as the source sees it now; [] for 'none'. Rejects with NvmlError / NvidiaSmiError. */
  read(): Promise<GpuSnapshot[]>;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Which sources to try: 'auto' tries NVML, then nvidia-smi, then settles on 'none'. */
export type GpuReaderMode = 'auto' | GpuSource;

export interface GpuReaderOptions {
  /** @defaultValue 'auto' */
  mode?: GpuReaderMode;
  nvml?: NvmlOptions;
  nvidiaSmi?: NvidiaSmiOptions;
  logger?: Pick<Logger, 'info' | 'warn'>;
}

/** Probes the sources once, in order, and logs which one it settled on and why the others were not usable. */
export async function createGpuReader(opts: GpuReaderOptions = {}): Promise<GpuReader> {
  const mode = opts.mode ?? 'auto';
  const unusable: Record<string, string> = {};
  let reader: GpuReader | undefined;

  if (mode === 'auto' || mode === 'nvml') {
    try {
      reader = await nvmlReader(opts.nvml);
    } catch (err) {
      unusable.nvml = message(err);
    }
  }
  if (!reader && (mode === 'auto' || mode === 'nvidia-smi')) {
    try {
      reader = await nvidiaSmiReader(opts.nvidiaSmi);
    } catch (err) {
      unusable['nvidia-smi'] = message(err);
    }
  }
  if (!reader) {
    const why = mode === 'none' ? 'GPU reading turned off (mode none)' : 'no GPU source is usable on this machine';
    reader = noGpuReader(describe(why, unusable));
  } else if (Object.keys(unusable).length > 0) {
    reader = { ...reader, reason: describe(reader.reason, unusable) };
  }
  const fields = { source: reader.source, mode, reason: reader.reason, unusable };
  if (reader.source === 'none' && mode !== 'none') opts.logger?.warn(fields, 'No GPU reader: capacity comes from configuration');
  else opts.logger?.info(fields, 'GPU reader selected');
  return reader;
}

// The readers below are plain objects of closures (no `this`), so spreading one keeps it working.

/** A reader for machines without GPUs: reads nothing, closes nothing. */
export function noGpuReader(reason: string): GpuReader {
  return { source: 'none', reason, read: async () => [], close: async () => {} };
}

async function nvmlReader(opts: NvmlOptions | undefined): Promise<GpuReader> {
  const nvml: Nvml = await openNvml(opts);
  let gpus: number;
  try {
    gpus = nvml.deviceCount();
  } catch (err) {
    nvml.close();
    throw err;
  }
  let closed = false;
  return {
    source: 'nvml',
    reason: `NVML loaded from ${nvml.libraryPath} (${gpus} GPU${gpus === 1 ? '' : 's'})`,
    read: async () => nvml.readAll(),
    close: async () => {
      if (closed) return;
      closed = true;
      nvml.close();
    },
  };
}

async function nvidiaSmiReader(opts: NvidiaSmiOptions | undefined): Promise<GpuReader> {
  const first = await readNvidiaSmi(opts);
  return {
    source: 'nvidia-smi',
    reason: `${opts?.command ?? 'nvidia-smi'} answered (${first.length} GPU${first.length === 1 ? '' : 's'})`,
    read: () => readNvidiaSmi(opts),
    close: async () => {},
  };
}

function describe(lead: string, unusable: Record<string, string>): string {
  const notes = Object.entries(unusable).map(([source, why]) => `${source}: ${why}`);
  return notes.length === 0 ? lead : `${lead}; not usable: ${notes.join('; ')}`;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
