/**
 * Downloads one file over HTTP(S) into `<dest>.partial`, resuming what a cut connection left
 * (HTTP Range), hashing as it goes, and renaming to `dest` only once the sha256 matches.
 * A mismatch deletes the partial file: the next try starts over.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineError } from '../../../../protocol/errors.ts';

export interface DownloadProgress {
  completed: number;
  total?: number;
}

export interface DownloadOptions {
  /** Expected sha256 (hex); without it the file is accepted as served and its digest returned. */
  sha256?: string;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Connection attempts, each resuming where the last stopped. */
  attempts: number;
  /** Pause between attempts. */
  retryDelayMs: number;
  /** Longest wait for an answer's headers or its next bytes. */
  idleTimeoutMs: number;
}

export interface DownloadResult {
  sha256: string;
  bytes: number;
  /** Attempts that resumed a partial file with a Range request. */
  resumed: number;
}

export const partialPath = (dest: string) => `${dest}.partial`;

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** Total size from `Content-Range: bytes a-b/total` or, for a whole answer, `Content-Length`. */
function totalOf(res: Response, start: number): number | undefined {
  const range = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
  if (range) return Number(range[1]);
  const len = res.headers.get('content-length');
  return len === null ? undefined : start + Number(len);
}

/** One connection: appends to the partial file from its current size. Returns the total when known. */
async function attempt(url: string, part: string, hash: { h: Hash }, o: DownloadOptions, counters: { resumed: number }): Promise<void> {
  let start = await sizeOf(part);
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => ctl.abort(new Error(`no data for ${o.idleTimeoutMs} ms`)), o.idleTimeoutMs);
  };
  try {
    arm();
    const res = await fetch(url, { headers: start > 0 ? { range: `bytes=${start}-` } : {}, signal: ctl.signal });
    if (res.status === 416 && start > 0) return; // the partial file is already whole
    if (res.status === 404 || res.status === 410) throw new EngineError('model_not_found', `${url} answered ${res.status}`);
    if (!res.ok || !res.body) throw new EngineError('engine_unavailable', `${url} answered ${res.status}`);
    if (start > 0 && res.status === 206) counters.resumed++;
    else if (start > 0) {
      // The server ignored the range: start over.
      start = 0;
      hash.h = createHash('sha256');
    }
    const total = totalOf(res, start);
    const fh = await open(part, start === 0 ? 'w' : 'a');
    let done = start;
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        arm();
        hash.h.update(chunk);
        await fh.write(chunk);
        done += chunk.byteLength;
        o.onProgress?.({ completed: done, ...(total !== undefined ? { total } : {}) });
      }
    } finally {
      await fh.close();
    }
    if (total !== undefined && done < total) throw new EngineError('engine_unavailable', `${url}: connection ended at ${done} of ${total} bytes`);
  } finally {
    clearTimeout(idle);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** Downloads `url` to `dest` (resuming a partial file left there), verified against `o.sha256`. */
export async function downloadFile(url: string, dest: string, o: DownloadOptions): Promise<DownloadResult> {
  const part = partialPath(dest);
  const hash = { h: createHash('sha256') };
  if ((await sizeOf(part)) > 0) await hashFile(part, hash.h);
  const counters = { resumed: 0 };
  for (let i = 1; ; i++) {
    try {
      await attempt(url, part, hash, o, counters);
      break;
    } catch (err) {
      if (o.signal?.aborted) throw new EngineError('aborted', `download of ${url} aborted`, { cause: err });
      const final = err instanceof EngineError && !err.retryable;
      if (final || i >= o.attempts) throw err instanceof EngineError ? err : new EngineError('engine_unavailable', `download of ${url} failed: ${(err as Error).message}`, { cause: err });
      // The partial file and the hash so far stay: the next attempt asks for the rest.
      await sleep(o.retryDelayMs);
      // A write cut short may leave the file ahead of the hash; re-hash what is on disk.
      hash.h = createHash('sha256');
      await hashFile(part, hash.h).catch(() => undefined);
    }
  }
  const digest = hash.h.digest('hex');
  if (o.sha256 && digest !== o.sha256.toLowerCase()) {
    await rm(part, { force: true });
    throw new EngineError('engine_error', `checksum mismatch for ${url}: expected sha256 ${o.sha256}, got ${digest}; the download was discarded`);
  }
  const bytes = await sizeOf(part);
  await rename(part, dest);
  return { sha256: digest, bytes, resumed: counters.resumed };
}
