/**
 * A host's page cache in the simulator: model files in least-recently-used order within the
 * host's memory. A load or a staging read puts its file at the most recent end; files fall out
 * from the least recent end once the host's memory is full. A file larger than the whole cache
 * is never cached. Files read on a `stage` action are kept warm, as the worker keeps what it
 * staged (worker/host-cache): they fall out only once nothing else is left to drop, and the
 * oldest staged gives up its place when the staged files together outgrow the cache.
 */
export interface CachedFile {
  readonly model: string;
  readonly bytes: number;
}

export class HostPageCache {
  readonly capacityBytes: number;
  /** Model -> bytes; Map order is recency, least recent first. */
  private readonly files = new Map<string, number>();
  private used = 0;
  /** Staged files, oldest first. */
  private readonly kept = new Set<string>();

  constructor(capacityBytes: number) {
    this.capacityBytes = Math.max(0, capacityBytes);
  }

  get usedBytes(): number {
    return this.used;
  }

  has(model: string): boolean {
    return this.files.has(model);
  }

  /** Reads `model`'s file through the cache: it becomes the most recent; older files go to make room. */
  touch(model: string, bytes: number): void {
    const had = this.files.get(model);
    if (had !== undefined) {
      this.files.delete(model);
      this.used -= had;
    }
    if (bytes > this.capacityBytes) return;
    this.files.set(model, bytes);
    this.used += bytes;
    for (const keptToo of [false, true]) {
      for (const [m, b] of this.files) {
        if (this.used <= this.capacityBytes) return;
        if (m === model || this.kept.has(m) !== keptToo) continue;
        this.files.delete(m);
        this.kept.delete(m);
        this.used -= b;
      }
    }
  }

  /** Reads a staged file through the cache and keeps it warm. */
  stage(model: string, bytes: number): void {
    this.kept.delete(model);
    this.kept.add(model);
    let keptBytes = [...this.kept].reduce((s, m) => s + (m === model ? bytes : (this.files.get(m) ?? 0)), 0);
    for (const m of this.kept) {
      if (keptBytes <= this.capacityBytes || m === model) break;
      this.kept.delete(m);
      keptBytes -= this.files.get(m) ?? 0;
    }
    this.touch(model, bytes);
  }

  /** Cached files, least recent first. */
  entries(): CachedFile[] {
    return [...this.files].map(([model, bytes]) => ({ model, bytes }));
  }
}
