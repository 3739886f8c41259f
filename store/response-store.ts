/**
 * Stored Responses API responses: one JSON document per response, keyed by its job's id and
 * expiring `ttlSec` after it was created, so any API process serves them. The document's shape
 * belongs to the API; this store only needs to know its owner. Updates never bring back a
 * response deleted meanwhile (SET XX) and keep its expiry (KEEPTTL).
 */
import type { Keys } from '../protocol/keys.ts';
import type { RedisClient } from './redis-client.ts';

export interface ResponseStoreOptions {
  /** Seconds a stored response is kept. */
  ttlSec: number;
}

export class ResponseStore<T extends { tenant: string }> {
  private readonly redis: RedisClient;
  private readonly keys: Keys;
  private readonly opts: ResponseStoreOptions;

  constructor(redis: RedisClient, keys: Keys, opts: ResponseStoreOptions) {
    this.redis = redis;
    this.keys = keys;
    this.opts = opts;
  }

  /** Stores a new response for `ttlSec`. */
  async create(jobId: string, doc: T): Promise<void> {
    await this.redis.set(this.keys.response(jobId), JSON.stringify(doc), 'EX', this.opts.ttlSec);
  }

  /** Replaces a stored response, keeping its expiry; false when it is gone (expired or deleted). */
  async update(jobId: string, doc: T): Promise<boolean> {
    return (await this.redis.set(this.keys.response(jobId), JSON.stringify(doc), 'KEEPTTL', 'XX')) === 'OK';
  }

  /** The response, or null when it is gone or belongs to another tenant (`tenant` '*': any). */
  async get(tenant: string, jobId: string): Promise<T | null> {
    const text = await this.redis.get(this.keys.response(jobId));
    if (text === null) return null;
    const doc = JSON.parse(text) as T;
    return tenant === '*' || doc.tenant === tenant ? doc : null;
  }

  /** Deletes the response; false when there was none. */
  async delete(jobId: string): Promise<boolean> {
    return (await this.redis.del(this.keys.response(jobId))) > 0;
  }
}
