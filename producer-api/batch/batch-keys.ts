/**
 * Redis keys of the Batch API's files and batches, derived from the fabric's key builder so
 * they share its namespace (tests stay isolated, one prefix moves everything). All of them share
 * one hash tag: the Batch API's MULTIs and renames move data between files, batches and the
 * runners' index, so on a Redis Cluster they live in one slot.
 */
import type { Keys } from '../../protocol/keys.ts';
import { BATCH_TAG } from '../../protocol/slot-tags.ts';

export interface BatchKeys {
  /** File metadata (hash). */
  file(id: string): string;
  /** File content, one list element per line. */
  fileLines(id: string): string;
  /** Batches still reading a file (set): it cannot be deleted while one is. */
  fileUsers(id: string): string;
  /** A tenant's files (zset, score: created_at ms). */
  tenantFiles(tenant: string): string;
  /** Batch object (hash). */
  batch(id: string): string;
  /** A tenant's batches (zset, score: created_at ms). */
  tenantBatches(tenant: string): string;
  /** Lines submitted and not yet collected (hash: line index -> job id). */
  batchPending(id: string): string;
  /** Output and error lines collected so far (lists), renamed into files at the end. */
  batchOutput(id: string): string;
  batchErrors(id: string): string;
  /** Batches that need a runner (zset, score: created_at ms). */
  activeBatches(): string;
  /** Held by the API instance driving the batch (string with TTL). */
  batchLease(id: string): string;
}

export function batchKeys(keys: Keys): BatchKeys {
  const k = (...parts: string[]) => keys.tagged(BATCH_TAG, ...parts);
  return {
    file: (id) => k('file', id),
    fileLines: (id) => k('file', id, 'lines'),
    fileUsers: (id) => k('file', id, 'users'),
    tenantFiles: (tenant) => k('files', tenant),
    batch: (id) => k('batch', id),
    tenantBatches: (tenant) => k('batches', tenant),
    batchPending: (id) => k('batch', id, 'pending'),
    batchOutput: (id) => k('batch', id, 'output'),
    batchErrors: (id) => k('batch', id, 'errors'),
    activeBatches: () => k('batches', 'active'),
    batchLease: (id) => k('batch', id, 'lease'),
  };
}
