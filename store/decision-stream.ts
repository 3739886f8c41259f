/** Writes and reads the scheduler's decision stream (protocol/decisions.ts holds the entries' schema). */
import type { ChainableCommander } from 'ioredis';
import type { Keys } from '../protocol/keys.ts';
import type { RedisClient } from './redis-client.ts';
import { DECISIONS_MAX_LEN, schedulerDecisionSchema, type SchedulerDecision } from '../protocol/decisions.ts';
import { parseJsonAs } from '../protocol/parse-json.ts';

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
