/** Builds the fake libnvidia-ml with gcc during a test run and writes the state file it reads. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SOURCE = fileURLToPath(new URL('./fake_nvml.c', import.meta.url));

export interface FakeGpu {
  uuid: string;
  /** May contain spaces. */
  name: string;
  totalBytes: number;
  usedBytes: number;
  /** Percent; null makes nvmlDeviceGetUtilizationRates answer NVML_ERROR_NOT_SUPPORTED. */
  utilization: number | null;
  memoryUtilization?: number | null;
}

export interface FakeProcess {
  gpu: number;
  pid: number;
  /** Null is reported as NVML_VALUE_NOT_AVAILABLE. */
  usedBytes: number | null;
}

export interface FakeNvmlState {
  gpus: FakeGpu[];
  processes?: FakeProcess[];
  /** nvml.h function name -> nvmlReturn_t it answers with. */
  fail?: Record<string, number>;
}

export interface FakeNvml {
  /** Path of the built `libnvidia-ml.so.1`. */
  libraryPath: string;
  /** The state file; the library re-reads it on every call through FAKE_NVML_STATE. */
  statePath: string;
  setState(state: FakeNvmlState): Promise<void>;
  cleanup(): Promise<void>;
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? 'na' : String(v));

export function formatFakeNvmlState(state: FakeNvmlState): string {
  const lines = state.gpus.map(
    (g) => `gpu ${g.uuid} ${g.totalBytes} ${g.usedBytes} ${pct(g.utilization)} ${pct(g.memoryUtilization)} ${g.name}`,
  );
  for (const p of state.processes ?? []) lines.push(`proc ${p.gpu} ${p.pid} ${p.usedBytes ?? 'na'}`);
  for (const [fn, code] of Object.entries(state.fail ?? {})) lines.push(`fail ${fn} ${code}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Compiles the fake into a fresh temp dir and points FAKE_NVML_STATE at its state file
 * (process.env writes reach the C getenv(), so the library sees later changes too).
 */
export async function buildFakeNvml(): Promise<FakeNvml> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-nvml-'));
  const libraryPath = join(dir, 'libnvidia-ml.so.1');
  const statePath = join(dir, 'state.txt');
  await promisify(execFile)('gcc', ['-shared', '-fPIC', '-O1', '-Wall', '-o', libraryPath, SOURCE]);
  await writeFile(statePath, '');
  process.env.FAKE_NVML_STATE = statePath;
  return {
    libraryPath,
    statePath,
    setState: (state) => writeFile(statePath, formatFakeNvmlState(state)),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
