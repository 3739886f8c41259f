/**
 * The scheduler's recent actions with their reasons, in a capped stream
 * (`keys.schedulerDecisions()`, field `decision`): written by the scheduler, read by the
 * API's cluster view.
 */
import type { ChainableCommander } from 'ioredis';
import { z } from 'zod';
import type { Keys } from './keys.js';
import type { RedisClient } from './redis-client.js';
import { parseJsonAs } from './parse-json.js';

export const schedulerDecisionSchema = z.discriminatedUnion('action', [
  z.object({ at: z.number(), action: z.enum(['load', 'unload']), model: z.string(), worker: z.string(), reason: z.string(), forModel: z.string().optional() }),
  z.object({ at: z.number(), action: z.literal('drain'), worker: z.string(), reason: z.string(), costMs: z.number(), worthMs: z.number() }),
  z.object({
    at: z.number(),
    action: z.literal('scale'),
    desiredWorkers: z.number().int(),
    reason: z.string(),
    models: z.array(z.string()),
    pool: z.string().optional(),
    /** The drained worker a scale-down removes. */
    release: z.string().optional(),
  }),
]);
export type SchedulerDecision = z.infer<typeof schedulerDecisionSchema>;

/** Entries kept in the decision stream (approximate trim). */
export const DECISIONS_MAX_LEN = 200;

/** Appends a decision in pipeline `p`. */
export function recordDecision(p: ChainableCommander, keys: Keys, decision: SchedulerDecision): ChainableCommander {
  return p.xadd(keys.schedulerDecisions(), 'MAXLEN', '~', DECISIONS_MAX_LEN, '*', 'decision', JSON.stringify(decision));
}

/** The newest `count` decisions, newest first, each with its stream id; malformed entries are skipped. */
export async function readDecisions(redis: RedisClient, keys: Keys, count: number): Promise<(SchedulerDecision & { id: string })[]> {
  const rows = await redis.xrevrange(keys.schedulerDecisions(), '+', '-', 'COUNT', count);
  const out: (SchedulerDecision & { id: string })[] = [];
  for (const [id, kv] of rows) {
    const d = parseJsonAs(schedulerDecisionSchema, kv[kv.indexOf('decision') + 1] ?? '');
    if (d) out.push({ id, ...d });
  }
  return out;
}
