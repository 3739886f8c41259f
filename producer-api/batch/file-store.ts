/**
 * Files of the Batch API in Redis: metadata in a hash, content as a list with one element
 * per line. Every API instance sees the same files, they survive an API restart, and Redis
 * expires them (`fileTtlMs`). Uploads are written in pipelined slices as they stream in and
 * downloads are read in slices, so no file is ever held whole in one Node buffer; the batch
 * runner reads its input by line index (LRANGE) without parsing the rest.
 */
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import type { RedisClient } from '../../store/redis-client.ts';
import { HttpError } from '../http/http-error.ts';
import type { BatchKeys } from './batch-keys.ts';

export type FilePurpose = 'batch' | 'batch_output';

/** OpenAI's file object. */
export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  expires_at: number;
  filename: string;
  purpose: FilePurpose;
  status: 'processed';
  status_details: null;
}

export interface StoredFile extends FileObject {
  tenant: string;
  lines: number;
}

const SLICE_LINES = 1000;

export const newFileId = () => `file-${randomUUID().replace(/-/g, '')}`;

export class FileStore {
  private readonly redis: RedisClient;
  private readonly k: BatchKeys;
  private readonly opts: { fileTtlMs: number; maxFileBytes: number; maxFileLines: number };
  constructor(
    redis: RedisClient,
    k: BatchKeys,
    opts: { fileTtlMs: number; maxFileBytes: number; maxFileLines: number },
  ) {
    this.redis = redis;
    this.k = k;
    this.opts = opts;
  }

  /**
   * Stores an upload line by line as it streams in. Refuses (413) once it passes the byte or
   * line limit; the partial content is removed. A final line without `\n` counts; a trailing
   * empty line does not.
   */
  async ingest(tenant: string, filename: string, purpose: FilePurpose, content: Readable): Promise<StoredFile> {
    const id = newFileId();
    const linesKey = this.k.fileLines(id);
    let bytes = 0;
    let lines = 0;
    let slice: Buffer[] = [];
    let rest = Buffer.alloc(0);
    const flush = async () => {
      if (slice.length === 0) return;
      const batch = slice;
      slice = [];
      // The expiry is set with the first slice, so an abandoned upload still goes away.
      await this.redis.multi().rpush(linesKey, ...batch).pexpire(linesKey, this.opts.fileTtlMs).exec();
    };
    const push = async (line: Buffer) => {
      if (++lines > this.opts.maxFileLines) throw new HttpError(413, 'file_too_many_lines', `the file has more than ${this.opts.maxFileLines} lines`);
      slice.push(line.at(-1) === 0x0d ? line.subarray(0, -1) : line);
      if (slice.length >= SLICE_LINES) await flush();
    };
    try {
      for await (const chunk of content as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > this.opts.maxFileBytes) throw new HttpError(413, 'file_too_large', `the file is larger than ${this.opts.maxFileBytes} bytes`);
        let data = rest.length ? Buffer.concat([rest, chunk]) : chunk;
        for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
          await push(data.subarray(0, nl));
          data = data.subarray(nl + 1);
        }
        rest = Buffer.from(data);
      }
      if (rest.length > 0) await push(rest);
      await flush();
    } catch (err) {
      content.resume(); // drain what is left so the request completes
      await this.redis.del(linesKey);
      throw err;
    }
    if (lines === 0) throw new HttpError(400, 'empty_file', 'the file has no lines');
    return this.register(id, tenant, filename, purpose, bytes, lines);
  }

  /**
   * Turns a list the batch runner filled into the file `id` (output and error files). The id
   * is chosen and recorded by the caller first, so a repeat after a crash finds the file made.
   */
  async adopt(id: string, tenant: string, filename: string, list: string, bytes: number): Promise<void> {
    if (await this.redis.exists(this.k.file(id))) return;
    const lines = await this.redis.llen(list);
    await this.register(id, tenant, filename, 'batch_output', bytes, lines, list);
  }

  private async register(id: string, tenant: string, filename: string, purpose: FilePurpose, bytes: number, lines: number, from?: string): Promise<StoredFile> {
    const now = Date.now();
    const f: StoredFile = { id, object: 'file', bytes, created_at: Math.floor(now / 1000), expires_at: Math.floor((now + this.opts.fileTtlMs) / 1000), filename, purpose, status: 'processed', status_details: null, tenant, lines };
    const m = this.redis.multi();
    if (from) m.rename(from, this.k.fileLines(id));
    await m
      .hset(this.k.file(id), { id, tenant, bytes, lines, created_at: f.created_at, expires_at: f.expires_at, filename, purpose })
      .pexpire(this.k.file(id), this.opts.fileTtlMs)
      .pexpire(this.k.fileLines(id), this.opts.fileTtlMs)
      .zadd(this.k.tenantFiles(tenant), now, id)
      .exec();
    return f;
  }

  /** A tenant's file, or 404 (another tenant's file is as unknown as a missing one). */
  async get(tenant: string, id: string): Promise<StoredFile> {
    const h = await this.redis.hgetall(this.k.file(id));
    if (!h.id || h.tenant !== tenant) throw new HttpError(404, 'file_not_found', `No such File object: ${id}`);
    return decode(h);
  }

  /** Newest first, `limit` after the cursor `after` (a file id); expired files leave the index here. */
  async list(tenant: string, q: { after?: string; limit: number; purpose?: string }): Promise<{ data: StoredFile[]; hasMore: boolean }> {
    const index = this.k.tenantFiles(tenant);
    let start = 0;
    if (q.after) {
      const rank = await this.redis.zrevrank(index, q.after);
      start = rank === null ? 0 : rank + 1;
    }
    const out: StoredFile[] = [];
    for (;;) {
      const ids = await this.redis.zrevrange(index, start, start + q.limit * 2);
      if (ids.length === 0) return { data: out, hasMore: false };
      const pipe = this.redis.pipeline();
      for (const id of ids) pipe.hgetall(this.k.file(id));
      const rows = ((await pipe.exec()) ?? []).map(([, h]) => h as Record<string, string>);
      for (const [i, h] of rows.entries()) {
        if (!h.id) {
          await this.redis.zrem(index, ids[i]!);
          continue;
        }
        if (q.purpose && h.purpose !== q.purpose) continue;
        if (out.length === q.limit) return { data: out, hasMore: true };
        out.push(decode(h));
      }
      start += ids.length;
    }
  }

  async delete(tenant: string, id: string): Promise<void> {
    await this.get(tenant, id);
    if ((await this.redis.scard(this.k.fileUsers(id))) > 0) throw new HttpError(409, 'file_in_use', `File ${id} is the input of a batch that is still running; cancel it or wait for it to end`);
    await this.redis.multi().del(this.k.file(id), this.k.fileLines(id)).zrem(this.k.tenantFiles(tenant), id).exec();
  }

  /** Lines `[start, start + count)` of a file's content. */
  lines(id: string, start: number, count: number): Promise<string[]> {
    return this.redis.lrange(this.k.fileLines(id), start, start + count - 1);
  }

  /** Writes the content to `out` slice by slice, waiting for the socket to drain. */
  async pipeContent(id: string, out: Writable): Promise<void> {
    for (let start = 0; ; start += SLICE_LINES) {
      const slice = await this.lines(id, start, SLICE_LINES);
      if (slice.length === 0) return;
      if (out.destroyed) return;
      if (!out.write(slice.join('\n') + '\n')) await Promise.race([once(out, 'drain'), once(out, 'close')]);
    }
  }
}

function decode(h: Record<string, string>): StoredFile {
  return {
    id: h.id!,
    object: 'file',
    bytes: Number(h.bytes),
    created_at: Number(h.created_at),
    expires_at: Number(h.expires_at),
    filename: h.filename ?? '',
    purpose: h.purpose as FilePurpose,
    status: 'processed',
    status_details: null,
    tenant: h.tenant!,
    lines: Number(h.lines),
  };
}

/** The public file object (no tenant, no line count). */
export function fileView(f: StoredFile): FileObject {
  const { tenant: _t, lines: _l, ...view } = f;
  return view;
}
