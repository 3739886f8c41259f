/** BullMQ queues per model, created on first use, with the counts and positions the API reports. */
import { Queue } from 'bullmq';
import type { RedisClient } from '../../store/redis-client.ts';
import type { JobPayload } from '../../protocol/job.ts';
import type { Keys } from '../../protocol/keys.ts';
import { queueKeys } from '../../store/queue-keys.ts';

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
}

export class ModelQueues {
  private readonly queues = new Map<string, Queue<JobPayload>>();

  private readonly redis: RedisClient;
  private readonly keys: Keys;
  constructor(
    redis: RedisClient,
    keys: Keys,
  ) {
    this.redis = redis;
    this.keys = keys;
  }

  get(model: string): Queue<JobPayload> {
    let q = this.queues.get(model);
    if (!q) {
      q = new Queue<JobPayload>(queueKeys(this.keys.bullPrefix, model).name, { connection: this.redis, prefix: this.keys.bullPrefix });
      this.queues.set(model, q);
    }
    return q;
  }

  all(): Queue<JobPayload>[] {
    return [...this.queues.values()];
  }

  async counts(model: string): Promise<QueueCounts> {
    const c = await this.get(model).getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    return {
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
    };
  }

  /**
   * Jobs ahead of `bullJobId` and the backlog it sits in. BullMQ serves its plain wait list
   * before prioritized jobs, and prioritized jobs by score, so rank = wait length + zset rank.
   */
  async position(model: string, bullJobId: string): Promise<{ position: number | null; depth: number }> {
    const q = queueKeys(this.keys.bullPrefix, model);
    // Plain commands, not multi(): a transaction on a connection BullMQ shares copies all of
    // BullMQ's scripts each time, and these reads need not be atomic.
    const [waitLen, prioLen, rank, lpos] = await Promise.all([
      this.redis.llen(q.wait),
      this.redis.zcard(q.prioritized),
      this.redis.zrank(q.prioritized, bullJobId),
      this.redis.lpos(q.wait, bullJobId),
    ]);
    const depth = (waitLen ?? 0) + (prioLen ?? 0);
    // The wait list is pushed on the left and served from the right.
    if (lpos !== null && lpos !== undefined) return { position: (waitLen ?? 0) - 1 - lpos, depth };
    if (rank !== null && rank !== undefined) return { position: (waitLen ?? 0) + rank, depth };
    return { position: null, depth };
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close().catch(() => undefined)));
    this.queues.clear();
  }
}
