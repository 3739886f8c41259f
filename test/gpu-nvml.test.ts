/**
 * The NVML binding against a fake libnvidia-ml built with gcc here, the nvidia-smi fallback
 * against fake executables, and the reader's choice between them.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGpuReader, toGpuInfo, type GpuReader } from '../worker/gpu/gpu-reader.ts';
import { gpuReaderOptionsFromEnv } from '../worker/gpu/gpu-config.ts';
import { NvidiaSmiError, nvidiaSmiGpuArgs, parseNvidiaSmiAppsCsv, parseNvidiaSmiCsv } from '../worker/gpu/nvidia-smi.ts';
import { openNvml, type Nvml } from '../worker/gpu/nvml.ts';
import { NvmlError, NvmlReturn, NvmlUnavailableError } from '../worker/gpu/nvml-errors.ts';
import { buildFakeNvml, type FakeGpu, type FakeNvml } from './support/fake-nvml/build.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const H100: FakeGpu = {
  uuid: 'GPU-5bd7c4a3-8c4e-3a7f-2f4b-6d2d1e0c9a11',
  name: 'NVIDIA H100 80GB HBM3',
  totalBytes: 81559 * MiB,
  usedBytes: 531 * MiB,
  utilization: 37,
  memoryUtilization: 5,
};
const A6000: FakeGpu = {
  uuid: 'GPU-0c1f9e55-4d2a-11ee-be56-0242ac120002',
  name: 'NVIDIA RTX A6000',
  totalBytes: 48 * GiB,
  usedBytes: 12 * GiB + 3,
  utilization: null,
};

let fake: FakeNvml;
const opened: Array<Nvml | GpuReader> = [];
const tempDirs: string[] = [];

async function open(processCapacity?: number): Promise<Nvml> {
  const nvml = await openNvml({ libraryPath: fake.libraryPath, processCapacity });
  opened.push(nvml);
  return nvml;
}

/** A directory holding an executable `nvidia-smi` shell script with the given body. */
async function fakeNvidiaSmi(body: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-smi-'));
  tempDirs.push(dir);
  const path = join(dir, 'nvidia-smi');
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return dir;
}

beforeAll(async () => {
  fake = await buildFakeNvml();
});

afterEach(async () => {
  for (const x of opened.splice(0)) await x.close();
  for (const dir of tempDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await fake.cleanup();
});

describe('NVML binding on the fake library', () => {
  it('reads names, UUIDs, memory and utilization of every GPU exactly', async () => {
    await fake.setState({ gpus: [H100, A6000] });
    const nvml = await open();

    expect(nvml.deviceCount()).toBe(2);
    expect(nvml.readAll()).toEqual([
      {
        index: 0,
        uuid: H100.uuid,
        name: 'NVIDIA H100 80GB HBM3',
        memoryTotalBytes: 85_520_809_984,
        memoryUsedBytes: 556_793_856,
        memoryFreeBytes: 85_520_809_984 - 556_793_856,
        utilization: 0.37,
        memoryUtilization: 0.05,
        processes: [],
      },
      {
        index: 1,
        uuid: A6000.uuid,
        name: 'NVIDIA RTX A6000',
        memoryTotalBytes: 48 * GiB,
        memoryUsedBytes: 12 * GiB + 3,
        memoryFreeBytes: 36 * GiB - 3,
        utilization: null,
        memoryUtilization: null,
        processes: [],
      },
    ]);
  });

  it('reads the driver’s CUDA version and a GPU’s compute capability', async () => {
    const nvml = await open();
    expect(nvml.cudaFacts(0)).toEqual({ driverCuda: 13000, cc: 90 });
  });

  it('sees a change in used memory between two reads', async () => {
    await fake.setState({ gpus: [H100] });
    const nvml = await open();
    const before = nvml.readDevice(0);

    await fake.setState({ gpus: [{ ...H100, usedBytes: H100.usedBytes + 4 * GiB }] });
    const after = nvml.readDevice(0);

    expect(after.memoryUsedBytes! - before.memoryUsedBytes!).toBe(4 * GiB);
    expect(before.memoryFreeBytes! - after.memoryFreeBytes!).toBe(4 * GiB);
  });

  it('lists compute processes, growing its buffer when NVML answers INSUFFICIENT_SIZE', async () => {
    await fake.setState({
      gpus: [H100, A6000],
      processes: [
        { gpu: 0, pid: 4242, usedBytes: 4 * GiB + 512 * MiB },
        { gpu: 1, pid: 777, usedBytes: 1 * GiB },
        { gpu: 0, pid: 4243, usedBytes: null },
        { gpu: 0, pid: 4244, usedBytes: 300 * MiB },
      ],
    });
    const nvml = await open(1);

    expect(nvml.readDevice(0).processes).toEqual([
      { pid: 4242, usedBytes: 4 * GiB + 512 * MiB },
      { pid: 4243, usedBytes: null },
      { pid: 4244, usedBytes: 300 * MiB },
    ]);
    expect(nvml.readDevice(1).processes).toEqual([{ pid: 777, usedBytes: 1 * GiB }]);
  });

  it('reports processes as unknown when NVML refuses to list them', async () => {
    await fake.setState({
      gpus: [H100],
      processes: [{ gpu: 0, pid: 1, usedBytes: 1 }],
      fail: { nvmlDeviceGetComputeRunningProcesses_v3: NvmlReturn.ERROR_NO_PERMISSION },
    });
    const nvml = await open();
    expect(nvml.readDevice(0).processes).toBeNull();
  });

  it('turns a failure code into an NvmlError carrying the code name and nvmlErrorString text', async () => {
    await fake.setState({ gpus: [H100], fail: { nvmlDeviceGetMemoryInfo: NvmlReturn.ERROR_GPU_IS_LOST } });
    const nvml = await open();

    const err = (() => {
      try {
        nvml.readDevice(0);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(NvmlError);
    expect(err).toMatchObject({
      fn: 'nvmlDeviceGetMemoryInfo',
      code: 15,
      codeName: 'NVML_ERROR_GPU_IS_LOST',
      description: 'GPU is lost',
      retryable: false,
    });
    expect((err as Error).message).toBe('nvmlDeviceGetMemoryInfo failed: GPU is lost (NVML_ERROR_GPU_IS_LOST)');
  });

  it('marks a timeout as retryable', async () => {
    await fake.setState({ gpus: [H100], fail: { nvmlDeviceGetCount_v2: NvmlReturn.ERROR_TIMEOUT } });
    const nvml = await open();
    expect(() => nvml.readAll()).toThrow(expect.objectContaining({ codeName: 'NVML_ERROR_TIMEOUT', retryable: true }));
  });

  it('reports a driver that is not loaded as NVML unavailable, with the NVML error as cause', async () => {
    await fake.setState({ gpus: [], fail: { nvmlInit_v2: NvmlReturn.ERROR_DRIVER_NOT_LOADED } });
    const err = await openNvml({ libraryPath: fake.libraryPath }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(NvmlUnavailableError);
    expect(err).toMatchObject({ reason: 'init-failed' });
    expect((err as Error).cause).toMatchObject({ fn: 'nvmlInit_v2', codeName: 'NVML_ERROR_DRIVER_NOT_LOADED' });
  });

  it('reports a missing library as NVML unavailable', async () => {
    const err = await openNvml({ libraryPath: join(tmpdir(), 'no-such-dir', 'libnvidia-ml.so.1') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'NvmlUnavailableError', reason: 'library-not-found' });
  });

  it('shuts NVML down once and refuses reads after close', async () => {
    await fake.setState({ gpus: [H100] });
    const nvml = await openNvml({ libraryPath: fake.libraryPath });
    nvml.close();
    nvml.close();
    expect(() => nvml.readAll()).toThrow(/closed/);
  });
});

describe('GPU reader', () => {
  const missingLibrary = { libraryPath: '/nonexistent/libnvidia-ml.so.1' };

  function recordingLogger() {
    const lines: Array<{ level: string; fields: Record<string, unknown>; msg: string }> = [];
    const log = (level: string) => (fields: Record<string, unknown>, msg: string) => void lines.push({ level, fields, msg });
    return { lines, logger: { info: log('info'), warn: log('warn') } as never };
  }

  it('uses NVML when the library loads, and logs the choice once', async () => {
    await fake.setState({ gpus: [H100] });
    const { lines, logger } = recordingLogger();
    const reader = await createGpuReader({ nvml: { libraryPath: fake.libraryPath }, logger });
    opened.push(reader);

    expect(reader.source).toBe('nvml');
    expect((await reader.read()).map((g) => g.uuid)).toEqual([H100.uuid]);
    await reader.read();
    expect(lines).toEqual([expect.objectContaining({ level: 'info', msg: 'GPU reader selected' })]);
    expect(lines[0]!.fields).toMatchObject({ source: 'nvml', unusable: {} });
  });

  it('falls back to nvidia-smi on PATH when the NVML library is missing', async () => {
    const dir = await fakeNvidiaSmi(`case "$1" in
  --query-gpu=*) printf '%s\\n' '0, GPU-5bd7c4a3-8c4e-3a7f-2f4b-6d2d1e0c9a11, NVIDIA H100 80GB HBM3, 81559, 531, 81028, 12' ;;
  --query-compute-apps=*) printf '%s\\n' 'GPU-5bd7c4a3-8c4e-3a7f-2f4b-6d2d1e0c9a11, 4242, 4608' ;;
  *) exit 2 ;;
esac`);
    const oldPath = process.env.PATH;
    process.env.PATH = `${dir}${delimiter}${oldPath ?? ''}`;
    try {
      const { lines, logger } = recordingLogger();
      const reader = await createGpuReader({ nvml: missingLibrary, logger });
      opened.push(reader);

      expect(reader.source).toBe('nvidia-smi');
      expect(reader.reason).toMatch(/not usable: nvml: cannot load \/nonexistent\/libnvidia-ml\.so\.1/);
      expect(await reader.read()).toEqual([
        {
          index: 0,
          uuid: 'GPU-5bd7c4a3-8c4e-3a7f-2f4b-6d2d1e0c9a11',
          name: 'NVIDIA H100 80GB HBM3',
          memoryTotalBytes: 81559 * MiB,
          memoryUsedBytes: 531 * MiB,
          memoryFreeBytes: 81028 * MiB,
          utilization: 0.12,
          memoryUtilization: null,
          processes: [{ pid: 4242, usedBytes: 4608 * MiB }],
        },
      ]);
      expect(lines).toHaveLength(1);
      expect(lines[0]!.fields).toMatchObject({ source: 'nvidia-smi', unusable: { nvml: expect.any(String) } });
    } finally {
      process.env.PATH = oldPath;
    }
  });

  it('settles on "none" when neither NVML nor nvidia-smi exists, and reads no GPUs', async () => {
    const { lines, logger } = recordingLogger();
    const reader = await createGpuReader({ nvml: missingLibrary, nvidiaSmi: { command: '/nonexistent/nvidia-smi' }, logger });

    expect(reader.source).toBe('none');
    expect(await reader.read()).toEqual([]);
    expect(reader.reason).toMatch(/nvml: cannot load/);
    expect(reader.reason).toMatch(/nvidia-smi: \/nonexistent\/nvidia-smi is not installed or not on PATH/);
    expect(lines).toEqual([expect.objectContaining({ level: 'warn' })]);
    await reader.close();
    await reader.close();
  });

  it('settles on "none" when nvidia-smi exists but cannot reach the driver', async () => {
    const dir = await fakeNvidiaSmi(
      `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."; exit 9`,
    );
    const reader = await createGpuReader({ nvml: missingLibrary, nvidiaSmi: { command: join(dir, 'nvidia-smi') } });

    expect(reader.source).toBe('none');
    expect(reader.reason).toMatch(/failed \(exit 9\): NVIDIA-SMI has failed because it couldn't communicate/);
  });

  it('does not fall back when a source is forced', async () => {
    const reader = await createGpuReader({ mode: 'nvml', nvml: missingLibrary, nvidiaSmi: { exec: async () => 'unused' } });
    expect(reader.source).toBe('none');
    expect(reader.reason).toMatch(/^no GPU source is usable on this machine; not usable: nvml:/);
  });

  it('maps a snapshot onto the heartbeat GpuInfo, unknown memory as 0', () => {
    expect(
      toGpuInfo({
        index: 2,
        uuid: 'GPU-x',
        name: 'NVIDIA GB10',
        memoryTotalBytes: null,
        memoryUsedBytes: null,
        memoryFreeBytes: null,
        utilization: 0.5,
        memoryUtilization: null,
        processes: null,
      }),
    ).toEqual({
      index: 2,
      uuid: 'GPU-x',
      name: 'NVIDIA GB10',
      memoryTotalBytes: 0,
      memoryUsedBytes: 0,
      memoryFreeBytes: 0,
      utilization: 0.5,
    });
  });

  it('reads its options from the environment and rejects an unknown mode', () => {
    expect(gpuReaderOptionsFromEnv({ FABRIC_NVML_LIBRARY: '/opt/nvml.so', FABRIC_NVIDIA_SMI_TIMEOUT: '2s' })).toEqual({
      mode: 'auto',
      nvml: { libraryPath: '/opt/nvml.so' },
      nvidiaSmi: { command: 'nvidia-smi', timeoutMs: 2000 },
    });
    expect(() => gpuReaderOptionsFromEnv({ FABRIC_GPU_READER: 'cuda' })).toThrow(/FABRIC_GPU_READER must be one of/);
  });
});

/**
 * Text in the exact shape `nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,
 * memory.free,utilization.gpu --format=csv,noheader,nounits` prints: ", " separators, no quoting,
 * MiB without unit, bracketed placeholders for unavailable values.
 */
const ONE_H100 = '0, GPU-5bd7c4a3-8c4e-3a7f-2f4b-6d2d1e0c9a11, NVIDIA H100 80GB HBM3, 81559, 0, 81079, 0\n';

const EIGHT_A100 = [
  '0, GPU-3a1b2c3d-0000-1111-2222-333344445550, NVIDIA A100-SXM4-80GB, 81920, 72731, 8310, 100',
  '1, GPU-3a1b2c3d-0000-1111-2222-333344445551, NVIDIA A100-SXM4-80GB, 81920, 4, 81037, 0',
  '2, GPU-3a1b2c3d-0000-1111-2222-333344445552, NVIDIA A100-SXM4-80GB, 81920, 39015, 42026, 87',
  '3, GPU-3a1b2c3d-0000-1111-2222-333344445553, NVIDIA A100-SXM4-80GB, 81920, 4, 81037, 0',
  '4, GPU-3a1b2c3d-0000-1111-2222-333344445554, NVIDIA A100-SXM4-80GB, 81920, 4, 81037, 0',
  '5, GPU-3a1b2c3d-0000-1111-2222-333344445555, NVIDIA A100-SXM4-80GB, 81920, 4, 81037, 0',
  '6, GPU-3a1b2c3d-0000-1111-2222-333344445556, NVIDIA A100-SXM4-80GB, 81920, 4, 81037, 0',
  '7, GPU-3a1b2c3d-0000-1111-2222-333344445557, NVIDIA A100-SXM4-80GB, 81920, 18, 81023, 3',
].join('\n');

/** A workstation: names with spaces, a MIG-enabled card without utilization, an old card without support. */
const MIXED = `0, GPU-9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0, NVIDIA GeForce RTX 4090, 24564, 1873, 22298, 41
1, GPU-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9, NVIDIA A100 80GB PCIe, 81920, 87, 81305, [N/A]
2, GPU-11112222-3333-4444-5555-666677778888, NVIDIA RTX 6000 Ada Generation, 49140, 470, 48200, [Not Supported]
`;

describe('nvidia-smi CSV parser', () => {
  it('asks nvidia-smi for the fields in the order the parser reads them', () => {
    expect(nvidiaSmiGpuArgs()).toEqual([
      '--query-gpu=index,uuid,name,memory.total,memory.used,memory.free,utilization.gpu',
      '--format=csv,noheader,nounits',
    ]);
  });

  it('parses one GPU, turning MiB into bytes and percent into a ratio', () => {
    expect(parseNvidiaSmiCsv(ONE_H100)).toEqual([
      {
        index: 0,
        uuid: 'GPU-5bd7c4a3-8c4e-3a7f-2f4b-6d2d1e0c9a11',
        name: 'NVIDIA H100 80GB HBM3',
        memoryTotalBytes: 81559 * MiB,
        memoryUsedBytes: 0,
        memoryFreeBytes: 81079 * MiB,
        utilization: 0,
        memoryUtilization: null,
        processes: null,
      },
    ]);
  });

  it('parses eight GPUs in index order', () => {
    const gpus = parseNvidiaSmiCsv(EIGHT_A100);
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(gpus[0]).toMatchObject({ memoryUsedBytes: 72731 * MiB, memoryFreeBytes: 8310 * MiB, utilization: 1 });
    expect(gpus[2]!.utilization).toBeCloseTo(0.87, 10);
    expect(new Set(gpus.map((g) => g.uuid)).size).toBe(8);
  });

  it('keeps names with spaces whole and reads [N/A] and [Not Supported] as null', () => {
    const gpus = parseNvidiaSmiCsv(MIXED);
    expect(gpus.map((g) => g.name)).toEqual(['NVIDIA GeForce RTX 4090', 'NVIDIA A100 80GB PCIe', 'NVIDIA RTX 6000 Ada Generation']);
    expect(gpus.map((g) => g.utilization)).toEqual([0.41, null, null]);
    expect(gpus[1]!.memoryTotalBytes).toBe(81920 * MiB);
  });

  it('reads unknown memory as null (unified-memory GPUs) and tolerates CRLF and blank lines', () => {
    const gpus = parseNvidiaSmiCsv('\r\n0, GPU-aaaa, NVIDIA GB10, [N/A], [N/A], [N/A], 3\r\n\r\n');
    expect(gpus).toEqual([
      expect.objectContaining({ name: 'NVIDIA GB10', memoryTotalBytes: null, memoryUsedBytes: null, memoryFreeBytes: null }),
    ]);
  });

  it('keeps a name containing a comma whole', () => {
    expect(parseNvidiaSmiCsv('0, GPU-x, Quadro RTX 8000, Rev B, 46080, 0, 46080, 0')[0]!.name).toBe('Quadro RTX 8000, Rev B');
  });

  it('rejects lines it cannot read with a parse error', () => {
    expect(() => parseNvidiaSmiCsv('No devices were found')).toThrow(NvidiaSmiError);
    expect(() => parseNvidiaSmiCsv('0, GPU-x, T4, lots, 0, 0, 0')).toThrow(/memory.total is not a number/);
  });

  it('parses compute apps, with unknown used memory as null and the "no running" notice as none', () => {
    expect(
      parseNvidiaSmiAppsCsv('GPU-aaaa, 4242, 4608\nGPU-bbbb, 17, [N/A]\n'),
    ).toEqual([
      { gpuUuid: 'GPU-aaaa', pid: 4242, usedBytes: 4608 * MiB },
      { gpuUuid: 'GPU-bbbb', pid: 17, usedBytes: null },
    ]);
    expect(parseNvidiaSmiAppsCsv('')).toEqual([]);
    expect(parseNvidiaSmiAppsCsv('No running processes found\n')).toEqual([]);
  });
});
