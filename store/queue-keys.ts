/**
 * The BullMQ side of a model's queue, spelled once: its queue name, the Redis keys BullMQ
 * keeps it under (from BullMQ's own `QueueKeys`, so a BullMQ change of layout follows), and
 * the job ids the fabric gives each run of a job.
 */
import { QueueKeys } from 'bullmq';
import { queueNameFor } from '../protocol/model-names.ts';

export interface ModelQueueKeys {
  /** BullMQ queue name (`model-<escaped model>{<model tag>}`): all its keys share one cluster slot. */
  readonly name: string;
  /** List of plain waiting job ids: pushed on the left, served from the right. */
  readonly wait: string;
  /** Sorted set of prioritized waiting job ids. */
  readonly prioritized: string;
  readonly active: string;
  /** Hash of one BullMQ job. */
  job(bullJobId: string): string;
}

const builders = new Map<string, QueueKeys>();

/** The keys of `model`'s queue under `bullPrefix` (`keys.bullPrefix`). */
export function queueKeys(bullPrefix: string, model: string): ModelQueueKeys {
  let qk = builders.get(bullPrefix);
  if (!qk) builders.set(bullPrefix, (qk = new QueueKeys(bullPrefix)));
  const name = queueNameFor(model);
  return {
    name,
    wait: qk.toKey(name, 'wait'),
    prioritized: qk.toKey(name, 'prioritized'),
    active: qk.toKey(name, 'active'),
    job: (id) => qk.toKey(name, id),
  };
}

/** BullMQ job id of a job's `run` (0 for the first; each retry of a finished job is a new run). */
export function bullJobId(id: string, run: number): string {
  return run === 0 ? id : `${id}-r${run}`;
}

/** Inverse of `bullJobId`. */
export function parseBullJobId(bullId: string): { id: string; run: number } {
  const m = /^(.*)-r(\d+)$/.exec(bullId);
  return m ? { id: m[1]!, run: Number(m[2]) } : { id: bullId, run: 0 };
}
