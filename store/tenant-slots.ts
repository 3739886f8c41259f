/**
 * The tenants' running caps in Redis: a tenant with `maxRunning` has that many running slots
 * fleet-wide, kept as a zset of job id -> lease expiry (`keys.tenantRunning`). A worker takes a
 * slot before a capped job runs and gives it back when the job ends; while the job runs the
 * worker renews the lease, so the slots of a worker that died come back after one lease without
 * anyone cleaning up. Scripts: store/scripts/slot-*.lua.
 */
import type { RedisClient } from './redis-client.ts';
import type { RunningCap } from '../protocol/job.ts';
import type { Keys } from '../protocol/keys.ts';
import type { TenantLimits } from '../protocol/tenant-limits.ts';
import { Scripts } from './scripts/registry.ts';

/** A job waiting for a slot, as the parked set names it: its BullMQ queue and id. */
export interface ParkedJob {
  queue: string;
  bullId: string;
}

/** The parked set lives this long after its last change (jobs still waiting park again sooner). */
const PARKED_TTL_MS = 10 * 60_000;

/**
 * The `runningCap` a new job of `tenant` carries in its payload; undefined when the tenant has no
 * cap. The admin key's jobs (tenant `*`) are not capped, as the admin is not rate limited.
 */
export function runningCapOf(limits: TenantLimits, tenant: string): RunningCap | undefined {
  if (tenant === '*') return undefined;
  const max = limits.forTenant(tenant).maxRunning;
  return max > 0 ? { tenant, max } : undefined;
}

export class TenantSlots {
  private readonly scripts: Scripts;

  private readonly redis: RedisClient;
  private readonly keys: Keys;
  constructor(
    redis: RedisClient,
    keys: Keys,
  ) {
    this.redis = redis;
    this.keys = keys;
    this.scripts = Scripts.for(redis);
  }

  /**
   * Takes a running slot for `jobId` if its tenant is under the cap (or the job already holds
   * one); at the cap, parks `parked` (BullMQ `priority` orders the wake-ups).
   */
  take(jobId: string, cap: RunningCap, leaseMs: number, parked: ParkedJob = { queue: '', bullId: jobId }, priority = 0): Promise<{ taken: boolean; running: number }> {
    return this.scripts.slotTake({
      slots: this.keys.tenantRunning(cap.tenant),
      parked: this.keys.tenantParked(cap.tenant),
      jobId,
      cap: cap.max,
      leaseMs,
      member: `${parked.queue}\n${parked.bullId}`,
      priority,
      parkedTtlMs: PARKED_TTL_MS,
    });
  }

  /** Renews the leases of `jobIds`' slots; returns how many were still held. */
  async renew(tenant: string, jobIds: readonly string[], leaseMs: number): Promise<number> {
    if (jobIds.length === 0) return 0;
    return this.scripts.slotRenew({ slots: this.keys.tenantRunning(tenant), leaseMs, jobIds });
  }

  /** Gives a job's slot back; returns up to `wake` parked jobs to wake, first in priority order. */
  async release(tenant: string, jobId: string, wake = 1): Promise<ParkedJob[]> {
    const picked = await this.scripts.slotRelease({ slots: this.keys.tenantRunning(tenant), parked: this.keys.tenantParked(tenant), jobId, wake });
    return picked.map((m) => {
      const at = m.indexOf('\n');
      return { queue: m.slice(0, at), bullId: m.slice(at + 1) };
    });
  }

  /** Jobs holding one of the tenant's slots with a live lease (by Redis time). */
  async holders(tenant: string): Promise<string[]> {
    const [sec, micro] = await this.redis.time();
    const now = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
    return this.redis.zrangebyscore(this.keys.tenantRunning(tenant), `(${now}`, '+inf');
  }
}
