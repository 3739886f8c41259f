/**
 * The GPU check (entry point; bundled by scripts/prepare-gpu-check.sh, run by scripts/gpu-check.sh):
 * reads NVML through the fabric's binding, compares it with nvidia-smi, has a PyTorch process
 * allocate a known amount and checks NVML sees it within 1%. Prints a markdown table and a JSON line.
 * Exit codes: 0 pass, 1 mismatch, 2 no GPU or NVML unusable, 3 the allocation could not be made.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parseBytes } from '../../protocol/env.ts';
import {
  DEFAULT_TOLERANCE,
  checkAllocation,
  checkRelease,
  compareWithNvidiaSmi,
  exitCodeFor,
  formatTable,
  MiB,
  processRow,
  type CheckRow,
  type SmiMemory,
} from './gpu-check.ts';
import type { GpuSnapshot } from '../../worker/gpu/gpu-snapshot.ts';
import { execFileText, readNvidiaSmi } from '../../worker/gpu/nvidia-smi.ts';
import { DEFAULT_NVML_LIBRARY, openNvml, type Nvml } from '../../worker/gpu/nvml.ts';

interface CheckOptions {
  bytes: number;
  device: number;
  python: string;
  libraryPath: string;
  out: string | null;
}

/** Holds the CUDA context (with a tiny tensor) until told to allocate, then holds `n` bytes until stdin closes. */
const PYTHON_ALLOCATOR = String.raw`
import os, sys
try:
    import torch
except Exception as e:
    print("error torch-import " + repr(e), flush=True); sys.exit(3)
if not torch.cuda.is_available() or torch.cuda.device_count() < 1:
    print("error cuda-unavailable", flush=True); sys.exit(4)
n = int(sys.argv[1])
tiny = torch.empty(1, dtype=torch.uint8, device="cuda:0")
torch.cuda.synchronize()
props = torch.cuda.get_device_properties(0)
uuid = str(getattr(props, "uuid", "")).replace(" ", "") or "-"
print("context", os.getpid(), torch.__version__, torch.version.cuda, uuid, flush=True)
sys.stdin.readline()
x = torch.empty(n, dtype=torch.uint8, device="cuda:0")
torch.cuda.synchronize()
print("allocated", x.numel(), torch.cuda.memory_reserved(0), flush=True)
sys.stdin.readline()
`;

function options(argv: string[], env: NodeJS.ProcessEnv): CheckOptions {
  const arg = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  return {
    bytes: parseBytes(arg('bytes') ?? env.GPU_CHECK_BYTES ?? '4GiB'),
    device: Number(arg('device') ?? env.GPU_CHECK_DEVICE ?? '0'),
    python: arg('python') ?? env.GPU_CHECK_PYTHON ?? 'python3',
    libraryPath: arg('library') ?? env.FABRIC_NVML_LIBRARY ?? DEFAULT_NVML_LIBRARY,
    out: arg('out') ?? env.GPU_CHECK_OUT ?? null,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads until `used` holds still for two reads (the driver settles within a few hundred ms). */
async function readStable(nvml: Nvml, index: number): Promise<GpuSnapshot> {
  let last = nvml.readDevice(index);
  for (let i = 0; i < 20; i++) {
    await sleep(250);
    const next = nvml.readDevice(index);
    if (next.memoryUsedBytes === last.memoryUsedBytes) return next;
    last = next;
  }
  return last;
}

async function smiExtras(uuid: string): Promise<{ reservedBytes: number | null; driver: string | null }> {
  for (const fields of ['uuid,memory.reserved,driver_version', 'uuid,driver_version']) {
    try {
      const text = await execFileText('nvidia-smi', [`--query-gpu=${fields}`, '--format=csv,noheader,nounits'], { timeoutMs: 10_000 });
      const cells = text.split('\n').map((l) => l.split(',').map((c) => c.trim())).find((c) => c[0] === uuid);
      if (!cells) continue;
      const reserved = fields.includes('reserved') ? Number(cells[1]) : NaN;
      return { reservedBytes: Number.isFinite(reserved) ? reserved * MiB : null, driver: cells.at(-1) ?? null };
    } catch {
      // Older drivers reject memory.reserved as a field; the second query does without it.
    }
  }
  return { reservedBytes: null, driver: null };
}

/** Reads NVML and nvidia-smi back to back, up to three times, until they agree (memory may move between the two). */
async function compareSources(nvml: Nvml, gpu: GpuSnapshot): Promise<{ rows: CheckRow[]; driver: string | null; note?: string }> {
  let rows: CheckRow[] = [];
  let driver: string | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const mine = nvml.readDevice(gpu.index);
    let smi: GpuSnapshot | undefined;
    try {
      smi = (await readNvidiaSmi({ timeoutMs: 10_000 })).find((g) => g.uuid === gpu.uuid);
    } catch (err) {
      return { rows: [], driver, note: `nvidia-smi not usable: ${(err as Error).message}` };
    }
    if (!smi) return { rows: [], driver, note: `nvidia-smi does not list ${gpu.uuid}` };
    const extras = await smiExtras(gpu.uuid);
    driver = extras.driver;
    const memory: SmiMemory = {
      totalBytes: smi.memoryTotalBytes,
      usedBytes: smi.memoryUsedBytes,
      freeBytes: smi.memoryFreeBytes,
      reservedBytes: extras.reservedBytes,
    };
    rows = compareWithNvidiaSmi(mine, memory, DEFAULT_TOLERANCE);
    if (exitCodeFor(rows) === 0) break;
    await sleep(500);
  }
  return { rows, driver };
}

/** A line reader over the child's stdout that waits for a line starting with one of `words`. */
function lineWaiter(child: ChildProcessWithoutNullStreams) {
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    waiters.splice(0).forEach((w) => w());
  });
  child.on('exit', () => waiters.splice(0).forEach((w) => w()));
  return async (words: string[], timeoutMs: number): Promise<string[]> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = lines.find((l) => words.some((w) => l.startsWith(`${w} `) || l === w));
      if (hit) return hit.split(' ');
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`allocator gave no "${words.join('/')}" line`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 500);
      });
    }
  };
}

interface AllocationOutcome {
  rows: CheckRow[];
  facts: Record<string, string | number>;
  error?: string;
}

/** CUDA numbers devices its own way; name the GPU by NVML's UUID, else by PCI order as NVML does. */
function deviceSelectors(gpu: GpuSnapshot): NodeJS.ProcessEnv[] {
  return [
    { CUDA_VISIBLE_DEVICES: gpu.uuid },
    { CUDA_VISIBLE_DEVICES: String(gpu.index), CUDA_DEVICE_ORDER: 'PCI_BUS_ID' },
  ];
}

async function allocationCheck(nvml: Nvml, gpu: GpuSnapshot, opts: CheckOptions): Promise<AllocationOutcome> {
  const free = gpu.memoryFreeBytes ?? 0;
  // Half the free memory at most, in whole 2 MiB pages so PyTorch's allocator asks CUDA for exactly this.
  const bytes = Math.floor(Math.min(opts.bytes, free / 2) / (2 * MiB)) * 2 * MiB;
  let outcome: AllocationOutcome = { rows: [], facts: { allocationBytes: bytes }, error: 'not attempted' };
  for (const selector of deviceSelectors(gpu)) {
    outcome = await allocateOnce(nvml, gpu, bytes, opts.python, selector);
    if (!outcome.error?.includes('cuda-unavailable')) break;
  }
  return outcome;
}

async function allocateOnce(nvml: Nvml, gpu: GpuSnapshot, bytes: number, python: string, selector: NodeJS.ProcessEnv): Promise<AllocationOutcome> {
  const baseline = await readStable(nvml, gpu.index);
  const stderr: string[] = [];
  const child = spawn(python, ['-c', PYTHON_ALLOCATOR, String(bytes)], {
    env: { ...process.env, ...selector, PYTHONUNBUFFERED: '1' },
  });
  child.stderr.on('data', (d: Buffer) => stderr.push(d.toString()));
  child.stdin.on('error', () => {}); // EPIPE when the allocator died early; its exit is reported instead
  const spawnError = new Promise<never>((_, reject) => child.on('error', reject));
  spawnError.catch(() => {}); // also raced below; this keeps a late 'error' from going unhandled
  const waitFor = lineWaiter(child);
  try {
    const context = await Promise.race([waitFor(['context', 'error'], 180_000), spawnError]);
    if (context[0] === 'error') throw new Error(`allocator: ${context.slice(1).join(' ')}`);
    const [, pid, torchVersion, cudaVersion, torchUuid] = context;
    const withContext = await readStable(nvml, gpu.index);
    child.stdin.write('alloc\n');
    const allocated = await waitFor(['allocated'], 60_000);
    const after = await readStable(nvml, gpu.index);
    child.stdin.end();
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    await sleep(500);
    const released = await readStable(nvml, gpu.index);
    const rows = [
      ...checkAllocation(withContext, after, bytes, DEFAULT_TOLERANCE),
      processRow(withContext, after, Number(pid), bytes, DEFAULT_TOLERANCE),
      checkRelease(baseline, released, bytes, DEFAULT_TOLERANCE),
    ];
    const facts = {
      allocationBytes: bytes,
      contextBytes: (withContext.memoryUsedBytes ?? 0) - (baseline.memoryUsedBytes ?? 0),
      torchReservedBytes: Number(allocated[2]),
      torch: torchVersion ?? '?',
      cuda: cudaVersion ?? '?',
      torchDeviceUuid: torchUuid ?? '-',
      cudaVisibleDevices: selector.CUDA_VISIBLE_DEVICES ?? '',
    };
    return { rows, facts };
  } catch (err) {
    const tail = stderr.join('').trim().split('\n').slice(-5).join(' | ');
    return { rows: [], facts: { allocationBytes: bytes }, error: `${(err as Error).message}${tail ? ` (stderr: ${tail})` : ''}` };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2), process.env);
  const at = new Date().toISOString();
  let nvml: Nvml;
  try {
    nvml = await openNvml({ libraryPath: opts.libraryPath });
  } catch (err) {
    console.log(`GPU check ${at}: no GPU here: ${(err as Error).message}`);
    console.log(`GPU_CHECK_JSON ${JSON.stringify({ at, result: 'no-gpu', reason: (err as Error).message })}`);
    return 2;
  }
  try {
    const gpus = nvml.readAll();
    const gpu = gpus.find((g) => g.index === opts.device);
    if (!gpu) {
      console.log(`GPU check ${at}: NVML loaded but lists no GPU ${opts.device} (${gpus.length} GPUs)`);
      return 2;
    }
    const sources = await compareSources(nvml, gpu);
    const alloc = await allocationCheck(nvml, gpu, opts);
    const rows = [...sources.rows, ...alloc.rows];
    // A mismatch outranks a missing step: 1 if anything disagreed, else 3 if a step could not run.
    const code = exitCodeFor(rows) === 1 ? 1 : alloc.error || sources.note ? 3 : 0;
    const facts = { at, card: gpu.name, uuid: gpu.uuid, driver: sources.driver, node: process.version, ...alloc.facts };
    console.log(`GPU check ${at}: ${gpu.name} (${gpu.uuid}), driver ${sources.driver ?? '?'}, GPUs listed by NVML: ${gpus.length}`);
    for (const [k, v] of Object.entries(alloc.facts)) console.log(`  ${k}: ${v}`);
    if (sources.note) console.log(`  nvidia-smi: ${sources.note}`);
    if (alloc.error) console.log(`  allocation not made: ${alloc.error}`);
    console.log('');
    console.log(formatTable(rows));
    console.log('');
    console.log(`result: ${code === 0 ? 'PASS' : code === 1 ? 'MISMATCH' : 'INCOMPLETE'} (exit ${code})`);
    const json = { ...facts, result: code === 0 ? 'pass' : code === 1 ? 'mismatch' : 'incomplete', notes: [sources.note, alloc.error].filter(Boolean), rows };
    console.log(`GPU_CHECK_JSON ${JSON.stringify(json)}`);
    if (opts.out) await writeFile(opts.out, `${JSON.stringify(json, null, 2)}\n`);
    return code;
  } finally {
    nvml.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('GPU check crashed', err);
    process.exit(3);
  },
);
