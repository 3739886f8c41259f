/**
 * The tenants' running caps in Redis: a tenant with `maxRunning` has that many running slots
 * fleet-wide, kept as a zset of job id -> lease expiry (`keys.tenantRunning`). A worker takes a
 * slot before a capped job runs and gives it back when the job ends; while the job runs the
 * worker renews the lease, so the slots of a worker that died come back after one lease without
 * anyone cleaning up. Scripts: protocol/tenant-scripts.ts (TAKE_SLOT_LUA, RENEW_SLOTS_LUA).
 */
import type { Redis } from 'ioredis';
import type { RunningCap } from './job.js';
import type { Keys } from './keys.js';
import type { TenantLimits } from './tenant-limits.js';
import { RENEW_SLOTS_LUA, TAKE_SLOT_LUA } from './tenant-scripts.js';

type Scripts = {
  fabricTakeSlot(key: string, jobId: string, cap: number, leaseMs: number): Promise<[number, number]>;
  fabricRenewSlots(key: string, leaseMs: number, ...jobIds: string[]): Promise<number>;
};

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
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {
    redis.defineCommand('fabricTakeSlot', { numberOfKeys: 1, lua: TAKE_SLOT_LUA });
    redis.defineCommand('fabricRenewSlots', { numberOfKeys: 1, lua: RENEW_SLOTS_LUA });
  }

  private scripts(): Scripts {
    return this.redis as unknown as Scripts;
  }

  /** Takes a running slot for `jobId` if its tenant is under the cap (or the job already holds one). */
  async take(jobId: string, cap: RunningCap, leaseMs: number): Promise<{ taken: boolean; running: number }> {
    const [taken, running] = await this.scripts().fabricTakeSlot(this.keys.tenantRunning(cap.tenant), jobId, cap.max, leaseMs);
    return { taken: taken === 1, running };
  }

  /** Renews the leases of `jobIds`' slots; returns how many were still held. */
  async renew(tenant: string, jobIds: readonly string[], leaseMs: number): Promise<number> {
    if (jobIds.length === 0) return 0;
    return this.scripts().fabricRenewSlots(this.keys.tenantRunning(tenant), leaseMs, ...jobIds);
  }

  /** Gives a job's slot back. */
  async release(tenant: string, jobId: string): Promise<void> {
    await this.redis.zrem(this.keys.tenantRunning(tenant), jobId);
  }

  /** Jobs holding one of the tenant's slots with a live lease (by Redis time). */
  async holders(tenant: string): Promise<string[]> {
    const [sec, micro] = await this.redis.time();
    const now = Number(sec) * 1000 + Math.floor(Number(micro) / 1000);
    return this.redis.zrangebyscore(this.keys.tenantRunning(tenant), `(${now}`, '+inf');
  }
}
