/**
 * Leader election by a Redis lease (store/lease.ts): one key holding the owner's token with a TTL. The holder
 * renews it every `renewEveryMs`; a standby retries acquisition on the same period, and sooner
 * when the holder's remaining TTL is shorter, so it takes over about `ttlMs` after the holder's
 * last renewal. `isLeader()` also checks the local validity deadline, so a holder cut off from
 * Redis stops acting before its key can expire and another instance can win.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../store/redis-client.ts';
import { Lease, renewalPeriodMs } from '../store/lease.ts';
import { ConfigError } from '../protocol/env.ts';
import { checkBounds } from '../protocol/options-check.ts';
import type { Logger } from '../protocol/logger.ts';
import { settleWithin } from './settle-within.ts';

export type LeaseState = 'idle' | 'standby' | 'leader' | 'closed';

export interface LeaderLeaseOptions {
  ttlMs: number;
  /** Renewal period of the holder and retry period of a standby; default ttlMs / 3. */
  renewEveryMs: number;
  /** Token identifying this instance in the key. */
  owner: string;
}

/** 4 s, so a standby takes over within 5 s of the leader dying even just after a renewal. */
export const LEASE_TTL_DEFAULT_MS = 4_000;

export function leaderLeaseOptions(partial: Partial<LeaderLeaseOptions> = {}): LeaderLeaseOptions {
  const ttlMs = partial.ttlMs ?? LEASE_TTL_DEFAULT_MS;
  const opts = { ttlMs, renewEveryMs: partial.renewEveryMs ?? renewalPeriodMs(ttlMs), owner: partial.owner ?? randomUUID() };
  checkBounds('lease', opts, { ttlMs: { min: 30, int: true, env: 'FABRIC_SCHEDULER_LEASE_TTL' } });
  if (!(opts.renewEveryMs > 0 && opts.renewEveryMs < opts.ttlMs)) throw new ConfigError(`lease renewEveryMs must be in (0, ttlMs), got ${opts.renewEveryMs}`);
  return opts;
}

export class LeaderLease {
  private state: LeaseState = 'idle';
  /** Local deadline of our hold: request start + ttl, less a drift margin. */
  private validUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** Set first thing on close or kill, so an in-flight tick neither reschedules nor takes the lease. */
  private stopped = false;
  private readonly lease: Lease;

  private readonly log: Logger;
  readonly options: LeaderLeaseOptions;
  private readonly onChange: (leader: boolean) => void;
  constructor(
    redis: RedisClient,
    key: string,
    log: Logger,
    options: LeaderLeaseOptions = leaderLeaseOptions(),
    onChange: (leader: boolean) => void = () => undefined,
  ) {
    this.log = log;
    this.options = options;
    this.onChange = onChange;
    this.lease = new Lease(redis, key, options.owner);
  }

  get lifecycle(): LeaseState {
    return this.state;
  }

  /** True while we hold the lease and its local validity has not run out. */
  isLeader(): boolean {
    return this.state === 'leader' && Date.now() < this.validUntil;
  }

  /** Makes the first acquisition attempt (so leadership is known on return), then keeps trying or renewing. */
  async start(): Promise<void> {
    if (this.state !== 'idle' || this.stopped) return;
    this.setState('standby');
    await this.runTick();
  }

  /** Stops renewing and releases the lease if held. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  /** Test hook: dies without releasing, as a crashed process would; the key lapses after its TTL. */
  kill(): void {
    this.stopped = true;
    this.stopTimer();
    const wasLeader = this.state === 'leader';
    this.state = 'closed';
    this.closing ??= Promise.resolve();
    if (wasLeader) this.onChange(false);
  }

  private async doClose(): Promise<void> {
    this.stopped = true;
    this.stopTimer();
    // Bounded: with Redis unreachable a queued command never settles, and past the TTL the
    // lease lapses on its own anyway.
    const boundMs = this.options.ttlMs;
    try {
      await settleWithin(this.ticking, boundMs);
    } catch (err) {
      this.log.warn({ err }, 'Lease tick failed during close');
    }
    const wasLeader = this.state === 'leader';
    this.setState('closed');
    if (!wasLeader) return;
    this.onChange(false);
    try {
      if ((await settleWithin(this.lease.release(), boundMs)) === 'timeout') {
        this.log.warn({ timeoutMs: boundMs }, 'Lease release timed out; it lapses after its TTL');
      }
    } catch (err) {
      this.log.warn({ err }, 'Lease release failed; it lapses after its TTL');
    }
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async runTick(): Promise<void> {
    this.ticking = this.tick();
    await this.ticking;
  }

  /** One renewal (holder) or acquisition attempt (standby), then the next one is scheduled. */
  private async tick(): Promise<void> {
    let nextMs = this.options.renewEveryMs;
    try {
      nextMs = this.state === 'leader' ? await this.renew() : await this.acquire();
    } catch (err) {
      this.log.warn({ err, state: this.state }, 'Lease request failed');
      if (this.state === 'leader' && Date.now() >= this.validUntil) this.lose('expired');
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.runTick(), nextMs);
  }

  /** SET NX PX; returns the delay to the next attempt: sooner when the holder's key expires sooner. */
  private async acquire(): Promise<number> {
    const t0 = Date.now();
    const { ttlMs, renewEveryMs } = this.options;
    const { held, remainingMs: pttl } = await this.lease.acquire(ttlMs);
    if (this.stopped) {
      // Won just as we stopped: hand it back rather than sit on it until it lapses.
      if (held) await this.lease.release();
      return renewEveryMs;
    }
    if (held) {
      this.gain(t0);
      return renewEveryMs;
    }
    // pttl -2: the key vanished between the commands; retry at once (after a tick's breath).
    if (pttl === -2) return 1;
    return pttl > 0 ? Math.min(renewEveryMs, pttl + 2) : renewEveryMs;
  }

  private async renew(): Promise<number> {
    const t0 = Date.now();
    const ok = await this.lease.renew(this.options.ttlMs);
    if (this.state !== 'leader') return this.options.renewEveryMs;
    if (ok) {
      this.validUntil = this.deadline(t0);
      return this.options.renewEveryMs;
    }
    this.lose('taken');
    return 0;
  }

  /** Allows 1% clock drift plus 2 ms, as Redlock does. */
  private deadline(t0: number): number {
    return t0 + this.options.ttlMs - Math.ceil(this.options.ttlMs * 0.01) - 2;
  }

  private gain(t0: number): void {
    this.validUntil = this.deadline(t0);
    this.setState('leader');
    this.onChange(true);
  }

  private lose(why: 'taken' | 'expired'): void {
    this.log.warn({ why }, 'Lease lost');
    this.setState('standby');
    this.onChange(false);
  }

  private setState(state: LeaseState): void {
    if (state === this.state) return;
    this.state = state;
    this.log.info({ state, owner: this.options.owner }, 'Lease state changed');
  }
}
