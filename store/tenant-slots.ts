/**
 * The tenants' running caps in Redis: a tenant with `maxRunning` has that many running slots
 * fleet-wide, kept as a zset of job id -> lease expiry (`keys.tenantRunning`). A worker takes a
 * slot before a capped job runs and gives it back when the job ends; while the job runs the
 * worker renews the lease, so the slots of a worker that died come back after one lease without
 * anyone cleaning up. Scripts: store/tenant-scripts.ts (TAKE_SLOT_LUA, RENEW_SLOTS_LUA).
 */
import type { RedisClient } from './redis-client.js';
import type { RunningCap } from '../protocol/job.js';
import type { Keys } from '../protocol/keys.js';
import type { TenantLimits } from '../protocol/tenant-limits.js';
import { RELEASE_SLOT_LUA, RENEW_SLOTS_LUA, TAKE_SLOT_LUA } from './tenant-scripts.js';

type Scripts = {
  fabricTakeSlot(slots: string, parked: string, jobId: string, cap: number, leaseMs: number, member: string, priority: number, parkedTtlMs: number): Promise<[number, number]>;
  fabricRenewSlots(slots: string, leaseMs: number, ...jobIds: string[]): Promise<number>;
  fabricReleaseSlot(slots: string, parked: string, jobId: string, wake: number): Promise<string[]>;
};

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
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {
    redis.defineCommand('fabricTakeSlot', { numberOfKeys: 2, lua: TAKE_SLOT_LUA });
    redis.defineCommand('fabricRenewSlots', { numberOfKeys: 1, lua: RENEW_SLOTS_LUA });
    redis.defineCommand('fabricReleaseSlot', { numberOfKeys: 2, lua: RELEASE_SLOT_LUA });
  }

  private scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  /**
   * Takes a running slot for `jobId` if its tenant is under the cap (or the job already holds
   * one); at the cap, parks `parked` (BullMQ `priority` orders the wake-ups).
   */
  async take(jobId: string, cap: RunningCap, leaseMs: number, parked: ParkedJob = { queue: '', bullId: jobId }, priority = 0): Promise<{ taken: boolean; running: number }> {
    const [taken, running] = await this.scripts().fabricTakeSlot(
      this.keys.tenantRunning(cap.tenant),
      this.keys.tenantParked(cap.tenant),
      jobId,
      cap.max,
      leaseMs,
      `${parked.queue}\n${parked.bullId}`,
      priority,
      PARKED_TTL_MS,
    );
    return { taken: taken === 1, running };
  }

  /** Renews the leases of `jobIds`' slots; returns how many were still held. */
  async renew(tenant: string, jobIds: readonly string[], leaseMs: number): Promise<number> {
    if (jobIds.length === 0) return 0;
    return this.scripts().fabricRenewSlots(this.keys.tenantRunning(tenant), leaseMs, ...jobIds);
  }

  /** Gives a job's slot back; returns up to `wake` parked jobs to wake, first in priority order. */
  async release(tenant: string, jobId: string, wake = 1): Promise<ParkedJob[]> {
    const picked = await this.scripts().fabricReleaseSlot(this.keys.tenantRunning(tenant), this.keys.tenantParked(tenant), jobId, wake);
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
