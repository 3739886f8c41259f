/**
 * A lease in Redis: one key holding its owner's token with a TTL, so at most one owner holds it
 * and a dead owner's hold lapses by itself. Renewal and release check the token (lease-renew.lua,
 * lease-release.lua), so a late renewal or release never touches a successor's lease. The
 * scheduler's leadership, a batch's runner and the expiry sweep each hold one; a tenant's running
 * slots are leases of the same kind kept many to a key (store/tenant-slots.ts), renewed on the
 * same period (`renewalPeriodMs`).
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from './redis-client.ts';
import { Scripts } from './scripts/registry.ts';

/** What an acquisition attempt saw: whether we hold the lease now, and for how long the current holder's lasts. */
export interface LeaseAttempt {
  held: boolean;
  /** The lease's remaining ms as Redis reported it (-2: the key vanished between the commands). */
  remainingMs: number;
}

/** How often a holder renews a lease of `ttlMs`: a third of it, so two renewals may fail before it lapses. */
export function renewalPeriodMs(ttlMs: number): number {
  return Math.floor(ttlMs / 3);
}

export class Lease {
  private readonly scripts: Scripts;

  private readonly redis: RedisClient;
  readonly key: string;
  readonly owner: string;
  constructor(redis: RedisClient, key: string, owner: string = randomUUID()) {
    this.redis = redis;
    this.key = key;
    this.owner = owner;
    this.scripts = Scripts.for(redis);
  }

  /** Takes the lease for `ttlMs` if nobody holds it (SET NX PX); false when someone, this owner included, does. */
  async tryAcquire(ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.key, this.owner, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /**
   * Takes the lease if free, in one round trip that also reports the holder's remaining time.
   * `held` is true as well when this owner holds it already (a renewal whose reply was lost
   * although Redis applied it).
   */
  async acquire(ttlMs: number): Promise<LeaseAttempt> {
    const res = await this.redis.pipeline().set(this.key, this.owner, 'PX', ttlMs, 'NX').get(this.key).pttl(this.key).exec();
    const [set, holder, pttl] = (res ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    }) as [string | null, string | null, number];
    return { held: set === 'OK' || holder === this.owner, remainingMs: pttl };
  }

  /** Extends the lease to `ttlMs` if this owner still holds it. */
  renew(ttlMs: number): Promise<boolean> {
    return this.scripts.leaseRenew({ key: this.key, owner: this.owner, ttlMs });
  }

  /** Gives the lease up if this owner still holds it. */
  release(): Promise<boolean> {
    return this.scripts.leaseRelease({ key: this.key, owner: this.owner });
  }
}
