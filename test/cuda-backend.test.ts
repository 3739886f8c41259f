/**
 * Whether node-llama-cpp's prebuilt CUDA backend can run on a GPU: the fatbin reader on a built
 * buffer and on the installed library itself, the driver/architecture rule, and the engine's
 * backend request. The H200 case is what a real H200 with driver 580 (CUDA 13.0) showed: CUDA
 * loaded, models loaded, the first generation aborted (docs/llama-gpu-check.md).
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { llamaGpuRequest } from '../worker/engines/llama-cpp/gpu-backend.ts';
import { cudaBackendPath, cudaFit, maxPtxIsa, parseFatbin, readFatbin, type FatbinContents } from '../worker/gpu/cuda-backend.ts';

/** One fatbin container holding the given entries (kind 2 SASS, kind 1 PTX), laid out as nvcc writes them. */
function fatbin(entries: { kind: 1 | 2; arch: number; isa?: [number, number]; payload?: number }[]): Buffer {
  const parts = entries.map((e) => {
    const head = Buffer.alloc(64);
    head.writeUInt16LE(e.kind, 0);
    head.writeUInt32LE(64, 4);
    head.writeBigUInt64LE(BigInt(e.payload ?? 16), 8);
    head.writeUInt16LE(e.isa?.[1] ?? 0, 24);
    head.writeUInt16LE(e.isa?.[0] ?? 0, 26);
    head.writeUInt32LE(e.arch, 28);
    return Buffer.concat([head, Buffer.alloc(e.payload ?? 16)]);
  });
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(16);
  header.writeUInt32LE(0xba55ed50, 0);
  header.writeUInt16LE(1, 4);
  header.writeUInt16LE(16, 6);
  header.writeBigUInt64LE(BigInt(body.length), 8);
  return Buffer.concat([Buffer.alloc(8), header, body]);
}

const H200_BACKEND: FatbinContents = { sass: [86, 89, 120, 121], ptx: [{ arch: 75, isa: '9.1' }, { arch: 80, isa: '9.1' }, { arch: 90, isa: '9.1' }] };

describe('CUDA backend fit', () => {
  it('reads machine code and PTX (with its ISA version) per architecture from a fatbin', () => {
    const data = fatbin([{ kind: 2, arch: 89 }, { kind: 1, arch: 90, isa: [9, 1] }, { kind: 2, arch: 120 }, { kind: 1, arch: 90, isa: [9, 1] }]);
    expect(parseFatbin(data)).toEqual({ sass: [89, 120], ptx: [{ arch: 90, isa: '9.1' }] });
  });

  it('reads the installed prebuilt backend: no machine code for Hopper (sm_90), only PTX', async () => {
    const path = await cudaBackendPath();
    expect(path).not.toBeNull();
    expect(existsSync(path!)).toBe(true);
    const contents = await readFatbin(path!);
    expect(contents.sass.length).toBeGreaterThan(0);
    expect(contents.sass).not.toContain(90);
    expect(contents.ptx.some((p) => p.arch === 90)).toBe(true);
  });

  it('knows the newest PTX ISA each driver compiles', () => {
    expect(maxPtxIsa(13000)).toBe('9.0');
    expect(maxPtxIsa(13010)).toBe('9.1');
    expect(maxPtxIsa(12040)).toBe('8.4');
    expect(maxPtxIsa(12080)).toBe('8.7');
  });

  it('calls the H200 with a CUDA 13.0 driver unsupported, and fine with a 13.1 driver', () => {
    expect(cudaFit(H200_BACKEND, 90, 13000).verdict).toBe('unsupported');
    expect(cudaFit(H200_BACKEND, 90, 13000).reason).toMatch(/ISA 9\.1.*up to ISA 9\.0/);
    expect(cudaFit(H200_BACKEND, 90, 13010).verdict).toBe('ptx-jit');
  });

  it('runs machine code of the same major architecture, and knows nothing without NVML facts', () => {
    expect(cudaFit(H200_BACKEND, 89, 13000).verdict).toBe('sass');
    expect(cudaFit(H200_BACKEND, 87, 13000).verdict).toBe('sass');
    expect(cudaFit(H200_BACKEND, 70, 13000).verdict).toBe('unsupported');
    expect(cudaFit(H200_BACKEND, null, 13000).verdict).toBe('unknown');
  });
});

describe('embedded engine backend request', () => {
  it('keeps the CPU when configured so, asks for auto when CUDA can run or is absent, and excludes CUDA when it cannot run', () => {
    const unsupported = cudaFit(H200_BACKEND, 90, 13000);
    expect(llamaGpuRequest(false, unsupported)).toBe(false);
    expect(llamaGpuRequest('auto', null)).toBe('auto');
    expect(llamaGpuRequest('auto', cudaFit(H200_BACKEND, 89, 13000))).toBe('auto');
    expect(llamaGpuRequest('auto', { verdict: 'unknown', reason: '' })).toBe('auto');
    expect(llamaGpuRequest('auto', unsupported)).toEqual({ type: 'auto', exclude: ['cuda'] });
  });
});
