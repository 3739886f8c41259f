/**
 * The models folder as a bounded cache (`FABRIC_DISK_CACHE_BYTES`): before a download, the
 * least recently used `.gguf` files that are not loaded or in use are deleted until the new
 * file fits. Use is the file's access time, set explicitly at each load (`touch`), so it does
 * not depend on how the filesystem is mounted (noatime, relatime).
 */
import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../../../../protocol/errors.ts';
import type { Logger } from '../../../../protocol/logger.ts';

interface CachedFile {
  path: string;
  bytes: number;
  usedAt: number;
}

export class DiskCache {
  private readonly dir: string;
  private readonly limitBytes: number;
  private readonly inUse: (path: string) => boolean;
  private readonly log: Logger;
  constructor(dir: string, limitBytes: number, inUse: (path: string) => boolean, log: Logger) {
    this.dir = dir;
    this.limitBytes = limitBytes;
    this.inUse = inUse;
    this.log = log;
  }

  /** Model files and partial downloads in the folder, with their sizes and last use. */
  async files(): Promise<CachedFile[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: CachedFile[] = [];
    for (const name of names) {
      if (!name.endsWith('.gguf') && !name.endsWith('.gguf.partial')) continue;
      const st = await stat(join(this.dir, name)).catch(() => null);
      if (st?.isFile()) out.push({ path: join(this.dir, name), bytes: st.size, usedAt: st.atimeMs });
    }
    return out;
  }

  /**
   * Frees room for `needBytes` more: deletes unused `.gguf` files, least recently used first.
   * Throws insufficient_disk when the files in use alone leave too little.
   */
  async makeRoom(needBytes: number): Promise<void> {
    if (!Number.isFinite(this.limitBytes)) return;
    const files = await this.files();
    let used = files.reduce((s, f) => s + f.bytes, 0);
    if (used + needBytes <= this.limitBytes) return;
    const victims = files.filter((f) => f.path.endsWith('.gguf') && !this.inUse(f.path)).sort((a, b) => a.usedAt - b.usedAt);
    for (const v of victims) {
      if (used + needBytes <= this.limitBytes) break;
      await rm(v.path, { force: true });
      used -= v.bytes;
      this.log.info({ path: v.path, bytes: v.bytes, limitBytes: this.limitBytes }, 'Evicted model file from the disk cache');
    }
    if (used + needBytes > this.limitBytes) {
      throw new EngineError('insufficient_disk', `${needBytes} bytes do not fit the disk cache: ${used} of ${this.limitBytes} (FABRIC_DISK_CACHE_BYTES) are held by models in use`);
    }
  }

  /** Marks a file used now (its access time), keeping its modification time. */
  async touch(path: string): Promise<void> {
    const st = await stat(path).catch(() => null);
    if (st) await utimes(path, new Date(), st.mtime).catch(() => undefined);
  }
}
