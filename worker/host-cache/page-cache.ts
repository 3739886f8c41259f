/**
 * The host page cache of one file, through libc (koffi, as worker/gpu/nvml.ts reaches NVML):
 * `mincore` over a read-only `mmap` of the file tells which of its pages sit in memory;
 * `posix_fadvise` asks the kernel to read a file ahead (WILLNEED) or to drop it (DONTNEED).
 * Without koffi or libc (another OS) `openPageCache` returns null and the worker reports no cache.
 */
import { closeSync, fdatasyncSync, fstatSync, openSync } from 'node:fs';

const PROT_READ = 1;
const MAP_SHARED = 1;
const POSIX_FADV_WILLNEED = 3;
const POSIX_FADV_DONTNEED = 4;
/** Bytes mapped at a time: bounds the mapping and the residency vector (1 GiB: 256 KiB of vector). */
const WINDOW_BYTES = 2 ** 30;

type Koffi = typeof import('koffi').default;

interface Libc {
  mmap: (addr: null, length: number, prot: number, flags: number, fd: number, offset: number) => unknown;
  munmap: (addr: unknown, length: number) => number;
  mincore: (addr: unknown, length: number, vec: Uint8Array) => number;
  posix_fadvise: (fd: number, offset: number, len: number, advice: number) => number;
  getpagesize: () => number;
}

export interface PageCache {
  readonly pageSize: number;
  /** Bytes of the file in the page cache now, and its size. */
  residentBytes(path: string): { fileBytes: number; cachedBytes: number };
  /** Asks the kernel to read the whole file ahead (returns at once; the read runs in the background). */
  willNeed(path: string): void;
  /** Asks the kernel to drop the file's pages, written back first (a load from it then reads from disk). */
  dontNeed(path: string): void;
}

let libc: Libc | null | undefined;

async function bindLibc(): Promise<Libc | null> {
  if (libc !== undefined) return libc;
  try {
    const koffi: Koffi = (await import('koffi')).default;
    const lib = koffi.load('libc.so.6');
    libc = {
      mmap: lib.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)') as Libc['mmap'],
      munmap: lib.func('int munmap(void *addr, size_t length)') as Libc['munmap'],
      mincore: lib.func('int mincore(void *addr, size_t length, _Out_ uint8_t *vec)') as Libc['mincore'],
      posix_fadvise: lib.func('int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)') as Libc['posix_fadvise'],
      getpagesize: lib.func('int getpagesize()') as Libc['getpagesize'],
    };
    return libc;
  } catch {
    libc = null;
    return null;
  }
}

/** The page cache of this host, or null where libc cannot be reached. */
export async function openPageCache(): Promise<PageCache | null> {
  const c = await bindLibc();
  if (!c) return null;
  const koffi: Koffi = (await import('koffi')).default;
  const pageSize = c.getpagesize();
  const mapFailed = (p: unknown) => p === null || koffi.address(p as object) === 0xffffffffffffffffn;

  function withFd<T>(path: string, fn: (fd: number, size: number) => T): T {
    const fd = openSync(path, 'r');
    try {
      return fn(fd, fstatSync(fd).size);
    } finally {
      closeSync(fd);
    }
  }

  return {
    pageSize,
    residentBytes(path) {
      return withFd(path, (fd, size) => {
        let cached = 0;
        for (let offset = 0; offset < size; offset += WINDOW_BYTES) {
          const length = Math.min(WINDOW_BYTES, size - offset);
          const addr = c.mmap(null, length, PROT_READ, MAP_SHARED, fd, offset);
          if (mapFailed(addr)) throw new Error(`mmap of ${path} failed`);
          try {
            const vec = new Uint8Array(Math.ceil(length / pageSize));
            if (c.mincore(addr, length, vec) !== 0) throw new Error(`mincore of ${path} failed`);
            for (let i = 0; i < vec.length; i++) if (vec[i]! & 1) cached += i === vec.length - 1 ? length - i * pageSize : pageSize;
          } finally {
            c.munmap(addr, length);
          }
        }
        return { fileBytes: size, cachedBytes: cached };
      });
    },
    willNeed(path) {
      withFd(path, (fd) => c.posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED));
    },
    dontNeed(path) {
      // Dirty pages are not dropped: write them back first.
      withFd(path, (fd) => {
        fdatasyncSync(fd);
        c.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      });
    },
  };
}
