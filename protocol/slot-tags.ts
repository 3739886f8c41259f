/**
 * Redis Cluster hash tags: which keys must share a slot. A cluster runs a script or MULTI only
 * when all its keys hash to one slot, and hashes only the part of a key inside its first `{...}`.
 * The fabric's atomic steps group keys by owner, so each owner gets one tag:
 * - a model: its BullMQ queue, its fabric keys (admissions, fair clocks, arrivals, deadlines)
 *   and the records of its jobs (a job id carries its model's tag: `job_<tag>_<uuid>`), so job
 *   creation with its backlog check is one script on one shard, and models spread over shards;
 * - a tenant: its request bucket, waiting/running counts, usage days and idempotency keys;
 * - the fleet: heartbeats, catalog, scheduler lease and decisions, footprints, holds, totals;
 * - the Batch API: files and batches (their bookkeeping moves lists between them).
 * On a single server the tags are just part of the key names.
 */
import { createHash, randomUUID } from 'node:crypto';

export const FLEET_TAG = 'fleet';
export const BATCH_TAG = 'batch';

const TAG_LENGTH = 8;
const tags = new Map<string, string>();
const MAX_CACHED = 10_000;

/** A model's tag: 8 hex digits of the SHA-256 of its canonical name (stable, spread over slots). */
export function modelTag(model: string): string {
  let tag = tags.get(model);
  if (tag === undefined) {
    tag = createHash('sha256').update(model).digest('hex').slice(0, TAG_LENGTH);
    if (tags.size >= MAX_CACHED) tags.clear();
    tags.set(model, tag);
  }
  return tag;
}

/** A new job id for `model`: `job_<model tag>_<32 hex>`. */
export function newJobId(model: string): string {
  return `job_${modelTag(model)}_${randomUUID().replace(/-/g, '')}`;
}

const JOB_ID_TAG = new RegExp(`^job_([0-9a-f]{${TAG_LENGTH}})_`);

/** The tag a job's keys share: its model's, read from the id; an id of another shape is its own tag. */
export function jobTag(id: string): string {
  return JOB_ID_TAG.exec(id)?.[1] ?? `j:${id}`;
}

export function tenantTag(tenant: string): string {
  return `t:${tenant}`;
}
