/**
 * The GPU check: its pure verdicts, and the whole script run against the fake libnvidia-ml with
 * a fake `nvidia-smi` and a fake PyTorch allocator that move the fake's memory like a GPU would.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_TOLERANCE,
  MiB,
  checkAllocation,
  checkRelease,
  compareWithNvidiaSmi,
  exitCodeFor,
  formatTable,
  processRow,
} from '../tools/gpu-check/gpu-check.ts';
import type { GpuSnapshot } from '../worker/gpu/gpu-snapshot.ts';
import { buildFakeNvml, type FakeNvml } from './support/fake-nvml/build.ts';

const GiB = 1024 * MiB;
const TOTAL = 81559 * MiB;

function snap(usedBytes: number, processes: GpuSnapshot['processes'] = []): GpuSnapshot {
  return {
    index: 0,
    uuid: 'GPU-1',
    name: 'NVIDIA H100 80GB HBM3',
    memoryTotalBytes: TOTAL,
    memoryUsedBytes: usedBytes,
    memoryFreeBytes: TOTAL - usedBytes,
    utilization: 0,
    memoryUtilization: 0,
    processes,
  };
}

describe('GPU check verdicts', () => {
  it('passes NVML against nvidia-smi within 1% and fails beyond it', () => {
    const ok = compareWithNvidiaSmi(snap(1000 * MiB), { totalBytes: TOTAL, usedBytes: 1000 * MiB, freeBytes: TOTAL - 1000 * MiB, reservedBytes: null }, DEFAULT_TOLERANCE);
    expect(ok.map((r) => r.result)).toEqual(['pass', 'pass', 'pass']);

    const off = compareWithNvidiaSmi(snap(1000 * MiB), { totalBytes: TOTAL, usedBytes: 900 * MiB, freeBytes: TOTAL - 1000 * MiB, reservedBytes: null }, DEFAULT_TOLERANCE);
    expect(off.map((r) => r.result)).toEqual(['pass', 'pass', 'fail']);
    expect(exitCodeFor(off)).toBe(1);
  });

  it('accepts NVML used matching nvidia-smi used plus reserved, and says so', () => {
    const rows = compareWithNvidiaSmi(snap(531 * MiB), { totalBytes: TOTAL, usedBytes: 0, freeBytes: TOTAL - 531 * MiB, reservedBytes: 531 * MiB }, DEFAULT_TOLERANCE);
    expect(rows[2]).toMatchObject({ result: 'pass', note: 'nvidia-smi memory.used + memory.reserved' });
  });

  it('allows nvidia-smi its whole-MiB rounding on small figures', () => {
    const rows = compareWithNvidiaSmi(snap(4 * MiB + 700_000), { totalBytes: TOTAL, usedBytes: 4 * MiB, freeBytes: TOTAL - 5 * MiB, reservedBytes: null }, DEFAULT_TOLERANCE);
    expect(rows.map((r) => r.result)).toEqual(['pass', 'pass', 'pass']);
  });

  it('checks an allocation delta against the allocated bytes', () => {
    const before = snap(1 * GiB);
    expect(checkAllocation(before, snap(5 * GiB + 10 * MiB), 4 * GiB, DEFAULT_TOLERANCE).map((r) => r.result)).toEqual(['pass', 'pass']);
    expect(checkAllocation(before, snap(4.5 * GiB), 4 * GiB, DEFAULT_TOLERANCE).map((r) => r.result)).toEqual(['fail', 'fail']);
  });

  it('checks that memory comes back after the allocating process exits', () => {
    expect(checkRelease(snap(1 * GiB), snap(1 * GiB + 2 * MiB), 4 * GiB, DEFAULT_TOLERANCE).result).toBe('pass');
    expect(checkRelease(snap(1 * GiB), snap(2 * GiB), 4 * GiB, DEFAULT_TOLERANCE).result).toBe('fail');
  });

  it('reports the process entry by PID, or by the one entry that grew when PIDs are namespaced', () => {
    const before = snap(1 * GiB, [{ pid: 900, usedBytes: 500 * MiB }]);
    const after = snap(5 * GiB, [{ pid: 900, usedBytes: 500 * MiB + 4 * GiB }]);
    expect(processRow(before, after, 900, 4 * GiB, DEFAULT_TOLERANCE)).toMatchObject({ measured: 4 * GiB, result: 'info', note: 'pid 900' });
    expect(processRow(before, after, 12, 4 * GiB, DEFAULT_TOLERANCE)).toMatchObject({
      measured: 4 * GiB,
      note: 'pid 12 not listed (PID namespace); host pid 900 grew',
    });
  });

  it('prints a markdown table', () => {
    const table = formatTable(checkAllocation(snap(0), snap(4 * GiB), 4 * GiB, DEFAULT_TOLERANCE));
    expect(table.split('\n')[0]).toBe('| check | NVML (bytes) | expected (bytes) | diff | allowed | result | note |');
    expect(table).toContain('| allocation: NVML used delta | 4294967296 (4096.0 MiB) | 4294967296 (4096.0 MiB) | 0 | 42949673 | PASS |  |');
  });
});

describe('GPU check script on the fake library', () => {
  let fake: FakeNvml;
  let bin: string;

  /** An executable Node script (named like the tool it stands in for). */
  async function tool(name: string, source: string): Promise<string> {
    const path = join(bin, name);
    await writeFile(path, `#!${process.execPath}\n${source}\n`);
    await chmod(path, 0o755);
    return path;
  }

  beforeAll(async () => {
    fake = await buildFakeNvml();
    bin = await mkdtemp(join(tmpdir(), 'gpu-check-bin-'));
    const common = `
const fs = require('node:fs');
const state = process.env.FAKE_NVML_STATE;
const MiB = 1048576, TOTAL = ${TOTAL}, BASE = 531 * MiB;
const write = (used, procs) => fs.writeFileSync(state,
  'gpu GPU-5bd7c4a3 ' + TOTAL + ' ' + used + ' 0 0 NVIDIA H100 80GB HBM3\\n' + procs.map((p) => 'proc 0 ' + p.pid + ' ' + p.used + '\\n').join(''));
`;
    await tool(
      'nvidia-smi',
      `${common}
const used = Number(/gpu \\S+ \\d+ (\\d+)/.exec(fs.readFileSync(state, 'utf8'))[1]);
const q = process.argv[2];
if (q.startsWith('--query-gpu=index')) console.log('0, GPU-5bd7c4a3, NVIDIA H100 80GB HBM3, ' + TOTAL / MiB + ', ' + Math.round(used / MiB) + ', ' + Math.round((TOTAL - used) / MiB) + ', 0');
else if (q.startsWith('--query-gpu=uuid,memory.reserved')) { console.error('Field "memory.reserved" is not a valid field to query.'); process.exit(2); }
else if (q.startsWith('--query-gpu=uuid,driver_version')) console.log('GPU-5bd7c4a3, 550.90.07');
else if (q.startsWith('--query-compute-apps')) console.log('No running processes found');`,
    );
    // Stands in for python3 -c <allocator> <bytes>: context first, then the allocation (times SCALE) on request.
    await tool(
      'fake-python',
      `${common}
const bytes = Number(process.argv[4]);
const scale = Number(process.env.FAKE_ALLOC_SCALE ?? '1');
const context = 500 * MiB;
write(BASE + context, [{ pid: process.pid, used: context }]);
console.log('context ' + process.pid + ' 2.5.1 12.4 -');
let step = 0;
require('node:readline').createInterface({ input: process.stdin }).on('line', () => {
  if (step++ > 0) return;
  const got = Math.round(bytes * scale);
  write(BASE + context + got, [{ pid: process.pid, used: context + got }]);
  console.log('allocated ' + got + ' ' + got);
}).on('close', () => { write(BASE, []); process.exit(0); });`,
    );
  });

  afterAll(async () => {
    await fake.cleanup();
    await rm(bin, { recursive: true, force: true });
  });

  async function runCheck(scale: number): Promise<{ code: number; stdout: string }> {
    await fake.setState({ gpus: [{ uuid: 'GPU-5bd7c4a3', name: 'NVIDIA H100 80GB HBM3', totalBytes: TOTAL, usedBytes: 531 * MiB, utilization: 0 }] });
    const args = ['tools/gpu-check/gpu-check-main.ts', `--library=${fake.libraryPath}`, `--python=${join(bin, 'fake-python')}`, '--bytes=1GiB'];
    const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, FAKE_ALLOC_SCALE: String(scale) };
    try {
      const { stdout } = await promisify(execFile)(process.execPath, args, { env, timeout: 60_000 });
      return { code: 0, stdout };
    } catch (err) {
      const e = err as { code: number; stdout: string };
      return { code: e.code, stdout: e.stdout };
    }
  }

  function jsonOf(stdout: string): { result: string; rows: Array<{ check: string; result: string; measured: number }> } {
    return JSON.parse(stdout.split('\n').find((l) => l.startsWith('GPU_CHECK_JSON '))!.slice('GPU_CHECK_JSON '.length));
  }

  it('passes when NVML sees the allocation, and prints the table', async () => {
    const { code, stdout } = await runCheck(1);
    expect(stdout).toContain('result: PASS (exit 0)');
    expect(code).toBe(0);
    const json = jsonOf(stdout);
    expect(json.result).toBe('pass');
    expect(json.rows.find((r) => r.check === 'allocation: NVML used delta')).toMatchObject({ measured: GiB, result: 'pass' });
    expect(stdout).toContain('| memory.total: NVML vs nvidia-smi |');
  });

  it('exits 1 with MISMATCH when NVML sees 5% less than was allocated', async () => {
    const { code, stdout } = await runCheck(0.95);
    expect(code).toBe(1);
    expect(stdout).toContain('result: MISMATCH (exit 1)');
  });

  it('exits 2 and says so when there is no NVML library', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['tools/gpu-check/gpu-check-main.ts', '--library=/nonexistent/libnvidia-ml.so.1']).catch(
      (e: { code: number; stdout: string }) => {
        expect(e.code).toBe(2);
        return e;
      },
    );
    expect(stdout).toMatch(/no GPU here: cannot load \/nonexistent\/libnvidia-ml\.so\.1/);
  });
});
