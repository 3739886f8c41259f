/**
 * The GPU check's verdicts, pure: NVML against nvidia-smi, and NVML's view of a known
 * allocation made by another process. The I/O lives in gpu-check-main.ts.
 */
import type { GpuSnapshot } from '../../worker/gpu/gpu-snapshot.ts';

export const MiB = 1024 * 1024;

export interface CheckTolerance {
  /** Allowed difference as a share of the expected value. @defaultValue 0.01 */
  ratio: number;
  /** Floor of the allowed difference: nvidia-smi rounds to whole MiB. @defaultValue 2 MiB */
  minBytes: number;
}

export const DEFAULT_TOLERANCE: CheckTolerance = { ratio: 0.01, minBytes: 2 * MiB };

export type CheckResult = 'pass' | 'fail' | 'info';

export interface CheckRow {
  check: string;
  measured: number | null;
  expected: number | null;
  /** measured - expected. */
  diff: number | null;
  allowed: number | null;
  result: CheckResult;
  note?: string;
}

/** What nvidia-smi said about one GPU; `reservedBytes` is null where the driver lacks memory.reserved. */
export interface SmiMemory {
  totalBytes: number | null;
  usedBytes: number | null;
  freeBytes: number | null;
  reservedBytes: number | null;
}

export function allowedDiff(expected: number, tol: CheckTolerance): number {
  return Math.max(Math.abs(expected) * tol.ratio, tol.minBytes);
}

/** A row comparing two byte counts; a missing figure fails, since the check exists to see it. */
export function compareBytes(check: string, measured: number | null, expected: number | null, tol: CheckTolerance, note?: string): CheckRow {
  if (measured === null || expected === null) {
    return { check, measured, expected, diff: null, allowed: null, result: 'fail', note: note ?? 'value not reported' };
  }
  const allowed = allowedDiff(expected, tol);
  const diff = measured - expected;
  return { check, measured, expected, diff, allowed, result: Math.abs(diff) <= allowed ? 'pass' : 'fail', ...(note ? { note } : {}) };
}

/**
 * NVML against nvidia-smi for one GPU. NVML v1 `used` counts driver-reserved memory while recent
 * nvidia-smi prints it apart (memory.reserved), so `used` passes if it matches either reading.
 */
export function compareWithNvidiaSmi(nvml: GpuSnapshot, smi: SmiMemory, tol: CheckTolerance): CheckRow[] {
  const rows = [
    compareBytes('memory.total: NVML vs nvidia-smi', nvml.memoryTotalBytes, smi.totalBytes, tol),
    compareBytes('memory.free: NVML vs nvidia-smi', nvml.memoryFreeBytes, smi.freeBytes, tol),
  ];
  const plain = compareBytes('memory.used: NVML vs nvidia-smi', nvml.memoryUsedBytes, smi.usedBytes, tol, 'nvidia-smi memory.used');
  if (plain.result === 'pass' || smi.reservedBytes === null || smi.usedBytes === null) return [...rows, plain];
  const withReserved = compareBytes(
    'memory.used: NVML vs nvidia-smi',
    nvml.memoryUsedBytes,
    smi.usedBytes + smi.reservedBytes,
    tol,
    'nvidia-smi memory.used + memory.reserved',
  );
  return [...rows, withReserved.result === 'pass' ? withReserved : plain];
}

/**
 * NVML's view of an allocation of `bytes` made between `before` and `after` (both read with the
 * allocating process already holding its CUDA context, so the context is not counted).
 */
export function checkAllocation(before: GpuSnapshot, after: GpuSnapshot, bytes: number, tol: CheckTolerance): CheckRow[] {
  const usedDelta = delta(after.memoryUsedBytes, before.memoryUsedBytes);
  const freeDelta = delta(before.memoryFreeBytes, after.memoryFreeBytes);
  return [
    compareBytes('allocation: NVML used delta', usedDelta, bytes, tol),
    compareBytes('allocation: NVML free delta', freeDelta, bytes, tol),
  ];
}

/** After the allocating process exits, its memory (context included) should be back. */
export function checkRelease(baseline: GpuSnapshot, afterExit: GpuSnapshot, bytes: number, tol: CheckTolerance): CheckRow {
  const allowed = allowedDiff(bytes, tol);
  const row = compareBytes('release: NVML used back to baseline', afterExit.memoryUsedBytes, baseline.memoryUsedBytes, tol);
  return row.diff === null ? row : { ...row, allowed, result: Math.abs(row.diff) <= allowed ? 'pass' : 'fail' };
}

/**
 * The allocating process in NVML's process list. Informational: in a container NVML reports host
 * PIDs, so the entry is matched by PID first, else by the growth of a single entry.
 */
export function processRow(before: GpuSnapshot, after: GpuSnapshot, pid: number, bytes: number, tol: CheckTolerance): CheckRow {
  const check = 'allocation: NVML process entry delta';
  if (after.processes === null || before.processes === null) {
    return { check, measured: null, expected: bytes, diff: null, allowed: null, result: 'info', note: 'process list not available' };
  }
  const byPid = (list: GpuSnapshot['processes'], p: number) => list?.find((x) => x.pid === p)?.usedBytes ?? null;
  let measured: number | null = null;
  let note: string;
  if (after.processes.some((p) => p.pid === pid)) {
    measured = delta(byPid(after.processes, pid), byPid(before.processes, pid));
    note = `pid ${pid}`;
  } else {
    const grown = after.processes
      .map((p) => ({ pid: p.pid, d: delta(p.usedBytes, byPid(before.processes, p.pid) ?? 0) }))
      .filter((x): x is { pid: number; d: number } => x.d !== null && x.d > 0);
    measured = grown.length === 1 ? grown[0]!.d : null;
    note = grown.length === 1 ? `pid ${pid} not listed (PID namespace); host pid ${grown[0]!.pid} grew` : `pid ${pid} not listed (PID namespace)`;
  }
  const row = compareBytes(check, measured, bytes, tol, note);
  return { ...row, result: 'info' };
}

function delta(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : a - b;
}

export function formatBytes(n: number | null): string {
  if (n === null) return 'n/a';
  return `${n} (${(n / MiB).toFixed(1)} MiB)`;
}

/** A markdown table, ready to paste into docs/gpu-check.md. */
export function formatTable(rows: CheckRow[]): string {
  const head = ['check', 'NVML (bytes)', 'expected (bytes)', 'diff', 'allowed', 'result', 'note'];
  const body = rows.map((r) => [
    r.check,
    formatBytes(r.measured),
    formatBytes(r.expected),
    r.diff === null ? 'n/a' : String(r.diff),
    r.allowed === null ? 'n/a' : String(Math.round(r.allowed)),
    r.result.toUpperCase(),
    r.note ?? '',
  ]);
  return [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** 0: every check passed; 1: a mismatch. */
export function exitCodeFor(rows: CheckRow[]): 0 | 1 {
  return rows.some((r) => r.result === 'fail') ? 1 : 0;
}
