/**
 * Can node-llama-cpp's prebuilt CUDA backend run kernels on this GPU with this driver? A CUDA
 * library carries, per kernel file, machine code (SASS) for some GPU architectures and PTX for
 * others. A GPU runs SASS built for its own major architecture; otherwise the driver compiles the
 * PTX of the newest architecture not above the GPU's, and only PTX whose ISA version the driver
 * knows (a driver for CUDA 13.0 takes PTX ISA up to 9.0). Without either, the first kernel launch
 * fails ("the provided PTX was compiled with an unsupported toolchain") and ggml aborts.
 * Reads the `.nv_fatbin` section of libggml-cuda.so and asks NVML for the driver's CUDA version
 * and the GPU's compute capability.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { openNvml } from './nvml.ts';

export interface FatbinContents {
  /** Architectures with machine code, as 86 for sm_86. */
  sass: number[];
  /** Architectures with PTX, with the PTX ISA version, as { arch: 90, isa: '9.1' }. */
  ptx: Array<{ arch: number; isa: string }>;
}

const FATBIN_MAGIC = 0xba55ed50;
const KIND_PTX = 1;
const KIND_SASS = 2;

/** The kernel architectures of a CUDA shared library (ELF64, little-endian). */
export async function readFatbin(path: string): Promise<FatbinContents> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(64);
    await file.read(head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) throw new Error(`${path} is not a 64-bit ELF file`);
    const shoff = Number(head.readBigUInt64LE(0x28));
    const shentsize = head.readUInt16LE(0x3a);
    const shnum = head.readUInt16LE(0x3c);
    const shstrndx = head.readUInt16LE(0x3e);
    const sections = Buffer.alloc(shentsize * shnum);
    await file.read(sections, 0, sections.length, shoff);
    const section = (i: number) => ({
      name: sections.readUInt32LE(i * shentsize),
      offset: Number(sections.readBigUInt64LE(i * shentsize + 24)),
      size: Number(sections.readBigUInt64LE(i * shentsize + 32)),
    });
    const strtab = section(shstrndx);
    const names = Buffer.alloc(strtab.size);
    await file.read(names, 0, strtab.size, strtab.offset);
    const nameOf = (offset: number) => names.toString('latin1', offset, names.indexOf(0, offset));
    const fatbin = Array.from({ length: shnum }, (_, i) => section(i)).find((s) => nameOf(s.name) === '.nv_fatbin');
    if (!fatbin) return { sass: [], ptx: [] };
    const data = Buffer.alloc(fatbin.size);
    await file.read(data, 0, fatbin.size, fatbin.offset);
    return parseFatbin(data);
  } finally {
    await file.close();
  }
}

/** Walks the fatbin containers (magic, version, header size, payload size) and their entries. */
export function parseFatbin(data: Buffer): FatbinContents {
  const sass = new Set<number>();
  const ptx = new Map<string, { arch: number; isa: string }>();
  let p = 0;
  while (p + 16 <= data.length) {
    if (data.readUInt32LE(p) !== FATBIN_MAGIC) {
      p += 8; // containers are 8-byte aligned
      continue;
    }
    const headerSize = data.readUInt16LE(p + 6);
    const end = p + headerSize + Number(data.readBigUInt64LE(p + 8));
    // Entry: kind u16 @0, header size u32 @4, padded payload size u64 @8, version minor/major u16 @24/26, arch u32 @28.
    for (let q = p + headerSize; q + 32 <= end && q + 32 <= data.length; ) {
      const kind = data.readUInt16LE(q);
      const arch = data.readUInt32LE(q + 28);
      if (kind === KIND_SASS) sass.add(arch);
      if (kind === KIND_PTX) {
        const isa = `${data.readUInt16LE(q + 26)}.${data.readUInt16LE(q + 24)}`;
        ptx.set(`${arch}/${isa}`, { arch, isa });
      }
      q += data.readUInt32LE(q + 4) + Number(data.readBigUInt64LE(q + 8));
    }
    p = end;
  }
  return { sass: [...sass].sort((a, b) => a - b), ptx: [...ptx.values()].sort((a, b) => a.arch - b.arch) };
}

/** Newest PTX ISA a driver's JIT takes, from its CUDA version (CUDA 12.x: 8.x with gaps; 13.x: 9.x). */
export function maxPtxIsa(driverCuda: number): string {
  const major = Math.floor(driverCuda / 1000);
  const minor = Math.floor((driverCuda % 1000) / 10);
  if (major === 12) return `8.${[0, 1, 2, 3, 4, 5, 5, 6, 7, 8][minor] ?? 8}`;
  if (major === 11) return `7.${minor}`;
  return `${major - 4}.${minor}`;
}

const isaValue = (isa: string) => {
  const [maj, min] = isa.split('.').map(Number);
  return (maj ?? 0) * 100 + (min ?? 0);
};

export interface CudaFit {
  verdict: 'sass' | 'ptx-jit' | 'unsupported' | 'unknown';
  reason: string;
}

/** Pure: what the driver will do with this library's kernels on a GPU of compute capability `cc` (as 90). */
export function cudaFit(contents: FatbinContents, cc: number | null, driverCuda: number | null): CudaFit {
  const listed = `SASS ${contents.sass.map((a) => `sm_${a}`).join(', ') || 'none'}; PTX ${contents.ptx.map((p) => `compute_${p.arch} (ISA ${p.isa})`).join(', ') || 'none'}`;
  if (cc === null || driverCuda === null) return { verdict: 'unknown', reason: `${listed}; the GPU's compute capability or the driver's CUDA version is unknown` };
  const gpu = `sm_${cc}`;
  const driver = `driver CUDA ${Math.floor(driverCuda / 1000)}.${Math.floor((driverCuda % 1000) / 10)}`;
  // Arch-specific cubins (sm_90a, sm_120a) run only on their own GPU; the section does not mark them, so they count as plain ones.
  if (contents.sass.some((a) => Math.floor(a / 10) === Math.floor(cc / 10) && a <= cc)) return { verdict: 'sass', reason: `${listed}: machine code for ${gpu}` };
  const usable = contents.ptx.filter((p) => p.arch <= cc);
  if (usable.length === 0) return { verdict: 'unsupported', reason: `${listed}: no machine code for ${gpu} and no PTX at or below it` };
  const limit = maxPtxIsa(driverCuda);
  const jittable = usable.filter((p) => isaValue(p.isa) <= isaValue(limit));
  if (jittable.length === 0) {
    return {
      verdict: 'unsupported',
      reason: `${listed}: no machine code for ${gpu}, and its PTX needs ISA ${usable.at(-1)!.isa} where the ${driver} compiles PTX up to ISA ${limit} (a newer driver is needed)`,
    };
  }
  return { verdict: 'ptx-jit', reason: `${listed}: no machine code for ${gpu}; the ${driver} compiles compute_${jittable.at(-1)!.arch} PTX on first use of each kernel` };
}

/** The driver's CUDA version (13000 for 13.0) and GPU `index`'s compute capability (90 for 9.0), through the NVML binding. */
export async function nvmlCudaFacts(libraryPath: string, index: number): Promise<{ driverCuda: number | null; cc: number | null; error?: string }> {
  try {
    const nvml = await openNvml({ libraryPath });
    try {
      return nvml.cudaFacts(index);
    } finally {
      nvml.close();
    }
  } catch (err) {
    return { driverCuda: null, cc: null, error: err instanceof Error ? err.message : String(err) };
  }
}

/** Path of `libggml-cuda.so` in @node-llama-cpp/linux-x64-cuda, found as node-llama-cpp finds it; null when not installed. */
export async function cudaBackendPath(): Promise<string | null> {
  const pkg = '@node-llama-cpp/linux-x64-cuda';
  try {
    const bins = (await import(pkg)) as { getBinsDir(): { binsDir: string } };
    return join(bins.getBinsDir().binsDir, 'linux-x64-cuda', 'libggml-cuda.so');
  } catch {
    return null;
  }
}

/**
 * Whether the prebuilt CUDA backend can run its kernels on GPU `index` with the installed driver;
 * null when the backend is not installed. Never throws: an unreadable library or NVML reads as
 * `unknown`.
 */
export async function cudaBackendFit(nvmlLibrary: string, index = 0): Promise<CudaFit | null> {
  const path = await cudaBackendPath();
  if (!path) return null;
  try {
    const [contents, facts] = await Promise.all([readFatbin(path), nvmlCudaFacts(nvmlLibrary, index)]);
    return cudaFit(contents, facts.cc, facts.driverCuda);
  } catch (err) {
    return { verdict: 'unknown', reason: `could not read ${path}: ${err instanceof Error ? err.message : String(err)}` };
  }
}
