/**
 * NVML (libnvidia-ml) through koffi: per GPU name, UUID, memory, utilization and compute
 * processes. Nothing native is touched until `openNvml()` runs, so a worker on a machine
 * without koffi's binary or without a driver still starts.
 */
import type { GpuProcess, GpuSnapshot } from './gpu-snapshot.ts';
import { NVML_SUCCESS, NvmlError, NvmlReturn, NvmlUnavailableError } from './nvml-errors.ts';

export const DEFAULT_NVML_LIBRARY = 'libnvidia-ml.so.1';

/** NVML_DEVICE_NAME_V2_BUFFER_SIZE and NVML_DEVICE_UUID_V2_BUFFER_SIZE (the larger, newer sizes). */
const NAME_BUFFER_BYTES = 96;
const UUID_BUFFER_BYTES = 96;
/** NVML_VALUE_NOT_AVAILABLE read as an `unsigned long long`. */
const VALUE_NOT_AVAILABLE = 2n ** 64n - 1n;
/** Processes can start between the sizing call and the next one; NVML documents the race. */
const PROCESS_RETRIES = 4;

export interface NvmlOptions {
  /** dlopen name or path of the library. @defaultValue 'libnvidia-ml.so.1' */
  libraryPath?: string;
  /** Process slots offered on the first call, grown on NVML_ERROR_INSUFFICIENT_SIZE. @defaultValue 32 */
  processCapacity?: number;
}

/** An initialised NVML session; `close()` calls nvmlShutdown once. */
export interface Nvml {
  readonly libraryPath: string;
  deviceCount(): number;
  readDevice(index: number): GpuSnapshot;
  readAll(): GpuSnapshot[];
  /** The driver's CUDA version (13000 for 13.0) and GPU `index`'s compute capability (90 for 9.0); null where NVML cannot say. */
  cudaFacts(index: number): { driverCuda: number | null; cc: number | null };
  close(): void;
}

type Out<T> = [T];
type Handle = bigint;
type Raw = number | bigint;

/** The nvml.h functions as koffi exposes them (pointers are BigInt in koffi 3). */
interface NvmlFunctions {
  nvmlInit_v2: { async(done: (err: unknown, rc: number) => void): void };
  nvmlShutdown(): number;
  nvmlErrorString(code: number): string;
  nvmlDeviceGetCount_v2(count: Out<number>): number;
  nvmlDeviceGetHandleByIndex_v2(index: number, device: Out<Handle | null>): number;
  nvmlDeviceGetName(device: Handle, name: Buffer, length: number): number;
  nvmlDeviceGetUUID(device: Handle, uuid: Buffer, length: number): number;
  nvmlDeviceGetMemoryInfo(device: Handle, memory: Partial<Record<'total' | 'free' | 'used', Raw>>): number;
  nvmlDeviceGetUtilizationRates(device: Handle, utilization: Partial<Record<'gpu' | 'memory', number>>): number;
  /** Absent from drivers older than R510; processes are then reported as unknown. */
  nvmlDeviceGetComputeRunningProcesses_v3: ((device: Handle, count: Out<number>, infos: Buffer | null) => number) | null;
  /** Optional like the process list: a library without them reports unknown CUDA facts. */
  nvmlSystemGetCudaDriverVersion_v2: ((version: Out<number>) => number) | null;
  nvmlDeviceGetCudaComputeCapability: ((device: Handle, major: Out<number>, minor: Out<number>) => number) | null;
}

type Koffi = typeof import('koffi').default;

interface NvmlTypes {
  processInfo: ReturnType<Koffi['struct']>;
  processInfoBytes: number;
}

/** koffi keeps named types in one registry per process: declare them once. */
let declared: NvmlTypes | undefined;

function declareTypes(koffi: Koffi): NvmlTypes {
  if (declared) return declared;
  koffi.pointer('nvmlDevice_t', koffi.opaque('nvmlDevice_st'));
  koffi.alias('nvmlReturn_t', 'int');
  koffi.struct('nvmlMemory_t', { total: 'unsigned long long', free: 'unsigned long long', used: 'unsigned long long' });
  koffi.struct('nvmlUtilization_t', { gpu: 'unsigned int', memory: 'unsigned int' });
  // nvmlProcessInfo_v2_t (= nvmlProcessInfo_t, the v3 call's element): 24 bytes, usedGpuMemory at offset 8.
  const processInfo = koffi.struct('nvmlProcessInfo_t', {
    pid: 'unsigned int',
    usedGpuMemory: 'unsigned long long',
    gpuInstanceId: 'unsigned int',
    computeInstanceId: 'unsigned int',
  });
  declared = { processInfo, processInfoBytes: koffi.sizeof(processInfo) };
  return declared;
}

const PROTOTYPES = {
  nvmlShutdown: 'nvmlReturn_t nvmlShutdown(void)',
  nvmlErrorString: 'const char *nvmlErrorString(nvmlReturn_t result)',
  nvmlDeviceGetCount_v2: 'nvmlReturn_t nvmlDeviceGetCount_v2(_Out_ unsigned int *deviceCount)',
  nvmlDeviceGetHandleByIndex_v2: 'nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, _Out_ nvmlDevice_t *device)',
  nvmlDeviceGetName: 'nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)',
  nvmlDeviceGetUUID: 'nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)',
  nvmlDeviceGetMemoryInfo: 'nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, _Out_ nvmlMemory_t *memory)',
  nvmlDeviceGetUtilizationRates:
    'nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, _Out_ nvmlUtilization_t *utilization)',
} as const;

/** Bound when the library has them, else null. */
const OPTIONAL_PROTOTYPES = {
  nvmlDeviceGetComputeRunningProcesses_v3:
    'nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, _Inout_ unsigned int *infoCount, nvmlProcessInfo_t *infos)',
  nvmlSystemGetCudaDriverVersion_v2: 'nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(_Out_ int *cudaDriverVersion)',
  nvmlDeviceGetCudaComputeCapability: 'nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, _Out_ int *major, _Out_ int *minor)',
} as const;

async function importKoffi(): Promise<Koffi> {
  try {
    return (await import('koffi')).default;
  } catch (err) {
    throw new NvmlUnavailableError('koffi-unavailable', `koffi (FFI) could not load: ${errorText(err)}`, { cause: err });
  }
}

function bind(koffi: Koffi, libraryPath: string): NvmlFunctions {
  let lib: ReturnType<Koffi['load']>;
  try {
    lib = koffi.load(libraryPath);
  } catch (err) {
    throw new NvmlUnavailableError('library-not-found', `cannot load ${libraryPath}: ${errorText(err)}`, { cause: err });
  }
  const fn = (prototype: string) => {
    try {
      return lib.func(prototype);
    } catch (err) {
      throw new NvmlUnavailableError('symbol-missing', `${libraryPath} lacks ${prototype}: ${errorText(err)}`, { cause: err });
    }
  };
  const bound: Record<string, unknown> = {};
  for (const [name, prototype] of Object.entries(PROTOTYPES)) bound[name] = fn(prototype);
  bound.nvmlInit_v2 = fn('nvmlReturn_t nvmlInit_v2(void)');
  for (const [name, prototype] of Object.entries(OPTIONAL_PROTOTYPES)) {
    try {
      bound[name] = lib.func(prototype);
    } catch {
      bound[name] = null;
    }
  }
  return bound as unknown as NvmlFunctions;
}

/** Loads the library, binds the functions and runs nvmlInit_v2 off the event loop (it can take seconds). */
export async function openNvml(opts: NvmlOptions = {}): Promise<Nvml> {
  const libraryPath = opts.libraryPath ?? DEFAULT_NVML_LIBRARY;
  const koffi = await importKoffi();
  const types = declareTypes(koffi);
  const fns = bind(koffi, libraryPath);
  const rc = await new Promise<number>((resolve, reject) =>
    fns.nvmlInit_v2.async((err, code) => (err ? reject(err) : resolve(code))),
  );
  if (rc !== NVML_SUCCESS) {
    const cause = new NvmlError('nvmlInit_v2', rc, fns.nvmlErrorString(rc));
    throw new NvmlUnavailableError('init-failed', `NVML did not initialise: ${cause.message}`, { cause });
  }
  return new NvmlSession(koffi, types, fns, libraryPath, opts.processCapacity ?? 32);
}

class NvmlSession implements Nvml {
  private closed = false;

  private readonly koffi: Koffi;
  private readonly types: NvmlTypes;
  private readonly fns: NvmlFunctions;
  readonly libraryPath: string;
  private processCapacity: number;
  constructor(
    koffi: Koffi,
    types: NvmlTypes,
    fns: NvmlFunctions,
    libraryPath: string,
    processCapacity: number,
  ) {
    this.koffi = koffi;
    this.types = types;
    this.fns = fns;
    this.libraryPath = libraryPath;
    this.processCapacity = processCapacity;
  }

  deviceCount(): number {
    this.assertOpen();
    const count: Out<number> = [0];
    this.check('nvmlDeviceGetCount_v2', this.fns.nvmlDeviceGetCount_v2(count));
    return count[0];
  }

  readAll(): GpuSnapshot[] {
    const n = this.deviceCount();
    return Array.from({ length: n }, (_, index) => this.readDevice(index));
  }

  readDevice(index: number): GpuSnapshot {
    this.assertOpen();
    const device = this.handle(index);
    const memory = this.memory(device);
    const utilization = this.utilization(device);
    return {
      index,
      uuid: this.text('nvmlDeviceGetUUID', device, UUID_BUFFER_BYTES),
      name: this.text('nvmlDeviceGetName', device, NAME_BUFFER_BYTES),
      memoryTotalBytes: memory?.total ?? null,
      memoryUsedBytes: memory?.used ?? null,
      memoryFreeBytes: memory?.free ?? null,
      utilization: utilization ? utilization.gpu / 100 : null,
      memoryUtilization: utilization ? utilization.memory / 100 : null,
      processes: this.processes(device),
    };
  }

  cudaFacts(index: number): { driverCuda: number | null; cc: number | null } {
    this.assertOpen();
    const version: Out<number> = [0];
    const getVersion = this.fns.nvmlSystemGetCudaDriverVersion_v2;
    const driverCuda = getVersion && getVersion(version) === NVML_SUCCESS ? version[0] : null;
    const getCapability = this.fns.nvmlDeviceGetCudaComputeCapability;
    const major: Out<number> = [0];
    const minor: Out<number> = [0];
    const cc = getCapability && getCapability(this.handle(index), major, minor) === NVML_SUCCESS ? major[0] * 10 + minor[0] : null;
    return { driverCuda, cc };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // The library stays mapped (koffi functions may still be referenced); NVML's own state is released.
    this.check('nvmlShutdown', this.fns.nvmlShutdown());
  }

  private handle(index: number): Handle {
    const out: Out<Handle | null> = [null];
    this.check('nvmlDeviceGetHandleByIndex_v2', this.fns.nvmlDeviceGetHandleByIndex_v2(index, out));
    if (out[0] === null) throw new NvmlError('nvmlDeviceGetHandleByIndex_v2', NvmlReturn.ERROR_UNKNOWN, 'null handle');
    return out[0];
  }

  private text(fn: 'nvmlDeviceGetName' | 'nvmlDeviceGetUUID', device: Handle, size: number): string {
    const buf = Buffer.alloc(size);
    this.check(fn, this.fns[fn](device, buf, size));
    const end = buf.indexOf(0);
    return buf.toString('utf8', 0, end < 0 ? size : end);
  }

  private memory(device: Handle): { total: number; free: number; used: number } | null {
    const out: Partial<Record<'total' | 'free' | 'used', Raw>> = {};
    const rc = this.fns.nvmlDeviceGetMemoryInfo(device, out);
    if (rc === NvmlReturn.ERROR_NOT_SUPPORTED) return null; // integrated / unified-memory GPUs
    this.check('nvmlDeviceGetMemoryInfo', rc);
    return { total: toBytes(out.total), free: toBytes(out.free), used: toBytes(out.used) };
  }

  private utilization(device: Handle): { gpu: number; memory: number } | null {
    const out: Partial<Record<'gpu' | 'memory', number>> = {};
    const rc = this.fns.nvmlDeviceGetUtilizationRates(device, out);
    if (rc === NvmlReturn.ERROR_NOT_SUPPORTED) return null;
    this.check('nvmlDeviceGetUtilizationRates', rc);
    return { gpu: out.gpu ?? 0, memory: out.memory ?? 0 };
  }

  /** Sizes the buffer from NVML's answer when it was too small; null where listing is not allowed. */
  private processes(device: Handle): GpuProcess[] | null {
    const call = this.fns.nvmlDeviceGetComputeRunningProcesses_v3;
    if (!call) return null;
    for (let attempt = 0; attempt < PROCESS_RETRIES; attempt++) {
      const capacity = this.processCapacity;
      const buf = Buffer.alloc(capacity * this.types.processInfoBytes);
      const count: Out<number> = [capacity];
      const rc = call(device, count, buf);
      if (rc === NvmlReturn.ERROR_INSUFFICIENT_SIZE) {
        this.processCapacity = Math.max(count[0] + 8, capacity * 2);
        continue;
      }
      if (rc === NvmlReturn.ERROR_NOT_SUPPORTED || rc === NvmlReturn.ERROR_NO_PERMISSION) return null;
      this.check('nvmlDeviceGetComputeRunningProcesses_v3', rc);
      return Array.from({ length: Math.min(count[0], capacity) }, (_, i) => this.processAt(buf, i));
    }
    this.check('nvmlDeviceGetComputeRunningProcesses_v3', NvmlReturn.ERROR_INSUFFICIENT_SIZE);
    return null;
  }

  private processAt(buf: Buffer, i: number): GpuProcess {
    const info = this.koffi.decode(buf, i * this.types.processInfoBytes, this.types.processInfo) as {
      pid: number;
      usedGpuMemory: Raw;
    };
    const notAvailable = BigInt(info.usedGpuMemory) === VALUE_NOT_AVAILABLE;
    return { pid: info.pid, usedBytes: notAvailable ? null : toBytes(info.usedGpuMemory) };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`NVML session on ${this.libraryPath} is closed`);
  }

  private check(fn: string, rc: number): void {
    if (rc !== NVML_SUCCESS) throw new NvmlError(fn, rc, this.fns.nvmlErrorString(rc));
  }
}

/** koffi returns a BigInt above 2^53; no GPU has that much memory, so Number() keeps every real figure exact. */
function toBytes(value: Raw | undefined): number {
  return value === undefined ? 0 : Number(value);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
