/**
 * Puts a model the llama.cpp engine lacks into its folder: resolves its source, frees room in
 * the disk cache, downloads (resumable, sha256-verified) and reports Ollama's pull statuses.
 * Two callers of the same model share one download.
 */
import { join } from 'node:path';
import type { Logger } from '../../../../protocol/logger.ts';
import type { LoadProgress } from '../../port/engine.ts';
import { fileNameForModel } from './file-names.ts';
import { DiskCache } from './disk-cache.ts';
import { downloadFile, partialPath } from './downloader.ts';
import { hasSource, resolveSource, type ExplicitSource, type SourceOptions } from './model-source.ts';
import { rm, stat } from 'node:fs/promises';

export interface FetcherOptions extends SourceOptions {
  /** Bytes the models folder may hold (FABRIC_DISK_CACHE_BYTES); Infinity: unbounded. */
  diskCacheBytes: number;
  /** Connection attempts per download, each resuming the last. */
  attempts: number;
  retryDelayMs: number;
  idleTimeoutMs: number;
}

export const FETCHER_DEFAULTS: Omit<FetcherOptions, 'declared'> = {
  hfEndpoint: 'https://huggingface.co',
  timeoutMs: 30_000,
  diskCacheBytes: Infinity,
  attempts: 5,
  retryDelayMs: 1_000,
  idleTimeoutMs: 60_000,
};

export interface FetchResult {
  path: string;
  sha256: string | null;
  /** False when the file was already on disk. */
  downloaded: boolean;
}

export class ModelFetcher {
  readonly cache: DiskCache;
  private readonly dir: string;
  private readonly opts: FetcherOptions;
  private readonly log: Logger;
  private readonly inFlight = new Map<string, { done: Promise<FetchResult>; listeners: Set<(p: LoadProgress) => void> }>();
  constructor(dir: string, opts: FetcherOptions, inUse: (path: string) => boolean, log: Logger) {
    this.dir = dir;
    this.opts = opts;
    this.log = log;
    this.cache = new DiskCache(dir, opts.diskCacheBytes, (p) => inUse(p) || [...this.inFlight.keys()].some((m) => this.pathOf(m) === p), log);
  }

  /** Whether some source knows `model` without a network request (declared or an hf.co name). */
  knows(model: string): boolean {
    return hasSource(model, this.opts);
  }

  /** Declared models (FABRIC_MODEL_SOURCES), for the catalog. */
  declared(): string[] {
    return [...this.opts.declared.keys()];
  }

  /** The size the source gives for `model` (a HEAD request when its resolution does not say). */
  async remoteSize(model: string): Promise<number> {
    const src = await resolveSource(model, this.opts);
    return src.sizeBytes ?? (await this.headSize(src.url)) ?? 0;
  }

  /** Content-Length of a HEAD request; undefined when the server does not say. */
  private async headSize(url: string): Promise<number | undefined> {
    try {
      const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(this.opts.timeoutMs) });
      const len = Number(res.headers.get('content-length'));
      return res.ok && len > 0 ? len : undefined;
    } catch {
      return undefined;
    }
  }

  pathOf(model: string): string {
    return join(this.dir, fileNameForModel(model));
  }

  /** Downloads `model` unless its file is there; `explicit` names a source for this pull only. */
  fetch(model: string, onProgress: (p: LoadProgress) => void, explicit: ExplicitSource = {}): Promise<FetchResult> {
    const joined = this.inFlight.get(model);
    if (joined) {
      joined.listeners.add(onProgress);
      return joined.done.finally(() => joined.listeners.delete(onProgress));
    }
    const listeners = new Set<(p: LoadProgress) => void>([onProgress]);
    const done = this.doFetch(model, (p) => listeners.forEach((l) => l(p)), explicit).finally(() => this.inFlight.delete(model));
    this.inFlight.set(model, { done, listeners });
    return done;
  }

  private async doFetch(model: string, emit: (p: LoadProgress) => void, explicit: ExplicitSource): Promise<FetchResult> {
    const path = this.pathOf(model);
    emit({ status: 'pulling manifest' });
    if (!explicit.url && (await stat(path).catch(() => null))?.isFile()) return { path, sha256: null, downloaded: false };
    const src = await resolveSource(model, this.opts, explicit);
    src.sizeBytes ??= await this.headSize(src.url);
    const have = (await stat(partialPath(path)).catch(() => null))?.size ?? 0;
    await this.cache.makeRoom(Math.max(0, (src.sizeBytes ?? 0) - have));
    const status = `pulling ${src.sha256?.slice(0, 12) ?? fileNameForModel(model)}`;
    this.log.info({ model, url: src.url, sizeBytes: src.sizeBytes, resumeFrom: have }, 'Downloading model');
    const res = await downloadFile(src.url, path, {
      ...(src.sha256 ? { sha256: src.sha256 } : {}),
      attempts: this.opts.attempts,
      retryDelayMs: this.opts.retryDelayMs,
      idleTimeoutMs: this.opts.idleTimeoutMs,
      onProgress: (p) => emit({ status, completed: p.completed, ...(p.total !== undefined ? { total: p.total } : { }) }),
    });
    emit({ status: 'verifying sha256 digest' });
    emit({ status: 'writing manifest' });
    this.log.info({ model, bytes: res.bytes, sha256: res.sha256, resumed: res.resumed }, 'Model downloaded');
    // A source that gave no size: the limit is checked again now the size is known.
    if (src.sizeBytes === undefined) {
      await this.cache.makeRoom(0).catch(async (err: unknown) => {
        await rm(path, { force: true });
        throw err;
      });
    }
    return { path, sha256: res.sha256, downloaded: true };
  }
}
