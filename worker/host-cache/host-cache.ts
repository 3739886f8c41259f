/**
 * The worker's host tier: which model files sit in the host's page cache, within the budget it
 * may use (FABRIC_HOST_CACHE_BYTES), measured with mincore (page-cache.ts) every
 * `hostCacheCheckMs` for the heartbeat; staging a model's files into memory on the scheduler's
 * command (a plain sequential read after a read-ahead hint: no VRAM); and the tier a load reads
 * from, measured just before it, for the load speeds per tier.
 *
 * Staged files are kept warm: a measurement that finds one of them fallen below the host-tier
 * share reads it again. Staged files together stay within the budget; the oldest staged is let go
 * (left to the kernel's LRU, not dropped) when a new one would outgrow it. Staging reads stand
 * aside while a load reads from disk (`yieldTo`): the load a request waits on comes before a read
 * for one that may come.
 */
import { open } from 'node:fs/promises';
import { HOST_TIER_MIN_SHARE, type HostCacheReport, type LoadTier } from '../../protocol/host-cache.ts';
import type { Logger } from '../../protocol/logger.ts';
import type { PageCache } from './page-cache.ts';

/** Bytes per read while staging. */
const STAGE_CHUNK_BYTES = 8 * 2 ** 20;

export interface HostCacheDeps {
  readonly pageCache: PageCache;
  readonly budgetBytes: number;
  /** Models the engine serves. */
  models(): Promise<string[]>;
  /** The files a load of the model reads. */
  files(model: string): Promise<string[]>;
  readonly log: Logger;
  readonly now?: () => number;
}

export class HostCache {
  private readonly d: HostCacheDeps;
  private last: HostCacheReport | undefined;
  private readonly staging = new Map<string, Promise<void>>();
  /** Staged models and their bytes, oldest first. */
  private readonly kept = new Map<string, number>();
  /** Loads reading from disk now, settled or not: staging reads wait for them between chunks. */
  private readonly diskLoads = new Set<Promise<void>>();

  constructor(d: HostCacheDeps) {
    this.d = d;
  }

  /** The last measurement, for the heartbeat; undefined before the first. */
  report(): HostCacheReport | undefined {
    return this.last;
  }

  /** Bytes of the model's files, and of them in the page cache now. */
  residentBytes(files: readonly string[]): { fileBytes: number; cachedBytes: number } {
    let fileBytes = 0;
    let cachedBytes = 0;
    for (const f of files) {
      const r = this.d.pageCache.residentBytes(f);
      fileBytes += r.fileBytes;
      cachedBytes += r.cachedBytes;
    }
    return { fileBytes, cachedBytes };
  }

  /** Measures every served model's files; keeps staged ones warm. */
  async measure(): Promise<HostCacheReport> {
    const models: HostCacheReport['models'] = [];
    for (const model of await this.d.models()) {
      try {
        const r = this.residentBytes(await this.d.files(model));
        if (r.cachedBytes > 0) models.push({ model, ...r });
        if (this.kept.has(model) && !this.staging.has(model) && r.cachedBytes < HOST_TIER_MIN_SHARE * r.fileBytes) void this.stage(model).catch(() => undefined);
      } catch (err) {
        this.d.log.debug({ model, err }, 'Page cache of a model file could not be measured');
      }
    }
    models.sort((a, b) => b.cachedBytes - a.cachedBytes || a.model.localeCompare(b.model));
    // Within the budget: what the worker may count on, the most cached first.
    let used = 0;
    const within = models.filter((m) => (used += m.cachedBytes) <= this.d.budgetBytes);
    this.last = { budgetBytes: this.d.budgetBytes, models: within, staging: [...this.staging.keys()], measuredAt: (this.d.now ?? Date.now)() };
    return this.last;
  }

  /** Staging reads pause (between chunks) until `load`, a load reading from disk, settles. */
  yieldTo(load: Promise<unknown>): void {
    const settled = load.then(
      () => undefined,
      () => undefined,
    );
    this.diskLoads.add(settled);
    void settled.then(() => this.diskLoads.delete(settled));
  }

  /** The tier a load of `model` would read from now, and its files' size. */
  async tierOf(model: string): Promise<{ tier: LoadTier; fileBytes: number }> {
    const r = this.residentBytes(await this.d.files(model));
    return { tier: r.fileBytes > 0 && r.cachedBytes >= HOST_TIER_MIN_SHARE * r.fileBytes ? 'host' : 'disk', fileBytes: r.fileBytes };
  }

  /**
   * Reads the model's files into the page cache and keeps them warm; a second call while one runs
   * shares it. Throws (not worth a retry) for a model with no files or larger than the budget.
   */
  stage(model: string): Promise<void> {
    const running = this.staging.get(model);
    if (running) return running;
    const done = this.doStage(model).finally(() => this.staging.delete(model));
    this.staging.set(model, done);
    return done;
  }

  private async doStage(model: string): Promise<void> {
    const files = await this.d.files(model);
    if (files.length === 0) throw new Error(`no file of model ${model} on this worker to stage (not retryable)`);
    const before = this.residentBytes(files);
    if (before.fileBytes > this.d.budgetBytes) throw new Error(`model ${model} (${before.fileBytes} bytes) exceeds the host cache budget of ${this.d.budgetBytes} bytes (not retryable)`);
    this.keep(model, before.fileBytes);
    const started = performance.now();
    const buf = Buffer.allocUnsafe(STAGE_CHUNK_BYTES);
    for (const f of files) {
      this.d.pageCache.willNeed(f);
      const fh = await open(f, 'r');
      try {
        do {
          while (this.diskLoads.size > 0) await Promise.all(this.diskLoads);
        } while ((await fh.read(buf, 0, buf.length, null)).bytesRead > 0);
      } finally {
        await fh.close();
      }
    }
    const after = this.residentBytes(files);
    this.d.log.info({ model, fileBytes: after.fileBytes, cachedBefore: before.cachedBytes, cachedAfter: after.cachedBytes, ms: Math.round(performance.now() - started) }, 'Model staged into host memory');
  }

  private keep(model: string, bytes: number): void {
    this.kept.delete(model);
    let total = [...this.kept.values()].reduce((s, b) => s + b, 0) + bytes;
    for (const [m, b] of this.kept) {
      if (total <= this.d.budgetBytes) break;
      this.kept.delete(m);
      total -= b;
    }
    this.kept.set(model, bytes);
  }
}
