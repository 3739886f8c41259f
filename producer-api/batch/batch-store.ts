/**
 * Batch objects in Redis (one hash each, indexed per tenant) and the two atomic changes the
 * runner and the cancel route race on: a status transition and collecting one line's result.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../../store/redis-client.ts';
import { Scripts } from '../../store/scripts/registry.ts';
import { HttpError } from '../http/http-error.ts';
import type { BatchKeys } from './batch-keys.ts';

export type BatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';
/** How a batch that stopped early ends: its unfinished lines get this error code. */
export type BatchEnding = 'completed' | 'expired' | 'cancelled';

export interface BatchLineError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

export interface BatchRecord {
  id: string;
  tenant: string;
  endpoint: string;
  inputFileId: string;
  completionWindow: string;
  status: BatchStatus;
  ending: BatchEnding;
  /** Epoch ms at which the completion window closes. */
  windowEndsAt: number;
  metadata: Record<string, string> | null;
  errors: BatchLineError[] | null;
  /** Lines of the input (known once validated) and the next line to submit or to write off. */
  total: number;
  cursor: number;
  completed: number;
  failed: number;
  outBytes: number;
  errBytes: number;
  outputFileId: string | null;
  errorFileId: string | null;
  /** Epoch seconds of each status reached. */
  at: Partial<Record<'created' | 'in_progress' | 'finalizing' | 'completed' | 'failed' | 'expired' | 'cancelling' | 'cancelled', number>>;
}

const TERMINAL: ReadonlySet<BatchStatus> = new Set(['failed', 'completed', 'expired', 'cancelled']);
export const isBatchTerminal = (s: BatchStatus) => TERMINAL.has(s);

const json = <T>(s: string | undefined): T | null => (s ? (JSON.parse(s) as T) : null);
const int = (s: string | undefined) => (s ? Number(s) : 0);
const sec = (ms: number) => Math.floor(ms / 1000);

export class BatchStore {
  private readonly redis: RedisClient;
  private readonly k: BatchKeys;
  private readonly ttlMs: number;
  constructor(
    redis: RedisClient,
    k: BatchKeys,
    ttlMs: number,
  ) {
    this.redis = redis;
    this.k = k;
    this.ttlMs = ttlMs;
  }

  async create(b: { tenant: string; endpoint: string; inputFileId: string; completionWindow: string; windowMs: number; metadata: Record<string, string> | null }): Promise<BatchRecord> {
    const id = `batch_${randomUUID().replace(/-/g, '')}`;
    const now = Date.now();
    await this.redis
      .multi()
      .hset(this.k.batch(id), {
        id, tenant: b.tenant, endpoint: b.endpoint, input_file_id: b.inputFileId, completion_window: b.completionWindow, status: 'validating', ending: 'completed',
        window_ends_at: now + b.windowMs, metadata: b.metadata ? JSON.stringify(b.metadata) : '', created_at: sec(now),
      })
      .pexpire(this.k.batch(id), this.ttlMs)
      .zadd(this.k.tenantBatches(b.tenant), now, id)
      .zadd(this.k.activeBatches(), now, id)
      .sadd(this.k.fileUsers(b.inputFileId), id)
      .exec();
    return (await this.read(id))!;
  }

  async read(id: string): Promise<BatchRecord | null> {
    const h = await this.redis.hgetall(this.k.batch(id));
    if (!h.id) return null;
    const at: BatchRecord['at'] = {};
    for (const s of ['created', 'in_progress', 'finalizing', 'completed', 'failed', 'expired', 'cancelling', 'cancelled'] as const) if (h[`${s}_at`]) at[s] = Number(h[`${s}_at`]);
    return {
      id: h.id, tenant: h.tenant!, endpoint: h.endpoint!, inputFileId: h.input_file_id!, completionWindow: h.completion_window!, status: h.status as BatchStatus, ending: (h.ending ?? 'completed') as BatchEnding,
      windowEndsAt: int(h.window_ends_at), metadata: json(h.metadata), errors: json(h.errors), total: int(h.total), cursor: int(h.cursor), completed: int(h.completed), failed: int(h.failed),
      outBytes: int(h.out_bytes), errBytes: int(h.err_bytes), outputFileId: h.output_file_id || null, errorFileId: h.error_file_id || null, at,
    };
  }

  /** A tenant's batch, or 404 (another tenant's batch is as unknown as a missing one). */
  async get(tenant: string, id: string): Promise<BatchRecord> {
    const b = await this.read(id);
    if (!b || b.tenant !== tenant) throw new HttpError(404, 'batch_not_found', `No such Batch object: ${id}`);
    return b;
  }

  /** Newest first, `limit` after the cursor `after`. */
  async list(tenant: string, after: string | undefined, limit: number): Promise<{ data: BatchRecord[]; hasMore: boolean }> {
    const index = this.k.tenantBatches(tenant);
    const rank = after ? await this.redis.zrevrank(index, after) : null;
    const ids = await this.redis.zrevrange(index, rank === null ? 0 : rank + 1, (rank === null ? 0 : rank + 1) + limit);
    const rows = await Promise.all(ids.slice(0, limit).map((id) => this.read(id)));
    const gone = ids.slice(0, limit).filter((_, i) => !rows[i]);
    if (gone.length) await this.redis.zrem(index, ...gone);
    return { data: rows.filter((r): r is BatchRecord => r !== null), hasMore: ids.length > limit };
  }

  /** Moves to `to` if the batch is in one of `from`, stamping `<to>_at` and any extra fields. */
  async transition(id: string, to: BatchStatus, from: readonly BatchStatus[], fields: Record<string, string | number> = {}): Promise<boolean> {
    const args = Object.entries({ [`${to}_at`]: sec(Date.now()), ...fields }).flat().map(String);
    return (await Scripts.for(this.redis).batchTransition({ batch: this.k.batch(id), to, from, fields: args })).applied;
  }

  async setFields(id: string, fields: Record<string, string | number>): Promise<void> {
    await this.redis.hset(this.k.batch(id), fields);
  }

  /** Records one line's result if it is still pending; true when this call wrote it. */
  async collect(id: string, line: number, text: string, ok: boolean): Promise<boolean> {
    const list = ok ? this.k.batchOutput(id) : this.k.batchErrors(id);
    return Scripts.for(this.redis).batchCollect({ pending: this.k.batchPending(id), list, batch: this.k.batch(id), line, text, counterField: ok ? 'completed' : 'failed', bytesField: ok ? 'out_bytes' : 'err_bytes' });
  }

  /** Writes error lines for never-submitted lines `[cursor, cursor + lines.length)` and advances the cursor with them. */
  writeOff(id: string, cursor: number, lines: string[]): Promise<void> {
    return this.markSubmitted(id, cursor + lines.length, new Map(), lines);
  }

  /** Lines submitted and not collected: line index -> what was submitted. */
  async pending(id: string): Promise<Map<number, PendingLine>> {
    const h = await this.redis.hgetall(this.k.batchPending(id));
    return new Map(Object.entries(h).map(([line, v]) => [Number(line), JSON.parse(v) as PendingLine]));
  }

  /**
   * Marks lines submitted and moves the cursor past them in one step, with the error lines of
   * lines that could not be submitted (so the cursor never passes a line without a trace).
   */
  async markSubmitted(id: string, cursor: number, lines: Map<number, PendingLine>, errorLines: string[] = []): Promise<void> {
    const m = this.redis.multi();
    if (lines.size > 0) m.hset(this.k.batchPending(id), Object.fromEntries([...lines].map(([l, p]) => [String(l), JSON.stringify(p)])));
    if (errorLines.length > 0) {
      m.rpush(this.k.batchErrors(id), ...errorLines).hincrby(this.k.batch(id), 'failed', errorLines.length).hincrby(this.k.batch(id), 'err_bytes', errorLines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0));
    }
    await m.hset(this.k.batch(id), 'cursor', cursor).exec();
  }

  /** Done with: out of the runners' index; the record and its files stay until they expire. */
  async retire(id: string, inputFileId: string): Promise<void> {
    await this.redis.multi().zrem(this.k.activeBatches(), id).srem(this.k.fileUsers(inputFileId), id).del(this.k.batchPending(id), this.k.batchLease(id)).exec();
  }

  activeIds(): Promise<string[]> {
    return this.redis.zrange(this.k.activeBatches(), '0', '-1');
  }
}

/** A submitted line: its job, its custom_id and how its embeddings are encoded. */
export interface PendingLine {
  job: string;
  customId: string;
  encoding: 'float' | 'base64';
}

/** OpenAI's batch object. */
export function batchView(b: BatchRecord) {
  return {
    id: b.id,
    object: 'batch',
    endpoint: b.endpoint,
    errors: b.errors ? { object: 'list', data: b.errors } : null,
    input_file_id: b.inputFileId,
    completion_window: b.completionWindow,
    status: b.status,
    output_file_id: b.outputFileId,
    error_file_id: b.errorFileId,
    created_at: b.at.created ?? 0,
    in_progress_at: b.at.in_progress ?? null,
    expires_at: sec(b.windowEndsAt),
    finalizing_at: b.at.finalizing ?? null,
    completed_at: b.at.completed ?? null,
    failed_at: b.at.failed ?? null,
    expired_at: b.at.expired ?? null,
    cancelling_at: b.at.cancelling ?? null,
    cancelled_at: b.at.cancelled ?? null,
    request_counts: { total: b.total, completed: b.completed, failed: b.failed },
    metadata: b.metadata,
  };
}
