/**
 * The worker's side of the tenants' running caps. Before a capped job runs, it takes one of its
 * tenant's running slots (store/tenant-slots.ts). At the cap the job goes back to its queue
 * untouched for a short, growing wait (BullMQ's delayed set; its priority, and so its fair-share
 * place, is kept): its record stays `queued`, no attempt is counted, no status event is written,
 * and the worker takes its next job. The job is also parked, so the worker that gives a slot
 * back wakes the tenant's first parked job at once; the wait is the fallback when a wake-up is
 * missed. Slots held here are renewed while their jobs run and given back when they end; a job
 * without a cap costs nothing here.
 */
import { Job, Queue } from 'bullmq';
import type { RedisClient } from '../store/redis-client.ts';
import type { JobPayload } from '../protocol/job.ts';
import type { Logger } from '../protocol/logger.ts';
import { renewalPeriodMs } from '../store/lease.ts';
import type { ParkedJob, TenantSlots } from '../store/tenant-slots.ts';
import { metrics } from './metrics.ts';

/** Moves a parked job from BullMQ's delayed set back to its queue now; false when it is not delayed (any more). */
export interface ParkedJobWaker {
  wake(job: ParkedJob): Promise<boolean>;
  close(): Promise<void>;
}

/** The real waker: BullMQ's promote on the job's queue (one round trip). */
export function bullWaker(connection: RedisClient, prefix: string): ParkedJobWaker {
  const queues = new Map<string, Queue>();
  return {
    async wake({ queue, bullId }) {
      let q = queues.get(queue);
      if (!q) queues.set(queue, (q = new Queue(queue, { connection, prefix })));
      try {
        // Promote needs only the id: no read of the job first.
        await new Job(q, '', {}, {}, bullId).promote();
        return true;
      } catch {
        return false; // running, taken, or gone since it parked
      }
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close().catch(() => undefined)));
    },
  };
}

export interface TenantGateOptions {
  leaseMs: number;
  deferMinMs: number;
  deferMaxMs: number;
}

/** Put-back counts are per job on this worker; past this many jobs the memory starts over. */
const MAX_TRACKED_DEFERRALS = 10_000;
/** Parked jobs tried per slot given back until one wakes (the others were running or gone). */
const WAKE_TRIES = 3;

export class TenantGate {
  /** Slots held by jobs running here: job id -> tenant, and the BullMQ token of the run that took it. */
  private readonly held = new Map<string, { tenant: string; token: string }>();
  /** Times each job was put back by this worker, for its next wait. */
  private readonly deferrals = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  private readonly slots: TenantSlots;
  private readonly waker: ParkedJobWaker;
  private readonly log: Logger;
  private readonly o: TenantGateOptions;
  constructor(
    slots: TenantSlots,
    waker: ParkedJobWaker,
    log: Logger,
    o: TenantGateOptions,
  ) {
    this.slots = slots;
    this.waker = waker;
    this.log = log;
    this.o = o;
  }

  /**
   * True: run the job (it holds its slot, or has no cap). False: the job is back in its queue
   * and the processor must throw BullMQ's DelayedError.
   */
  async admit(job: Job<JobPayload>, token: string | undefined): Promise<boolean> {
    const p = job.data;
    const cap = p.runningCap;
    // A job past its deadline runs no engine work (the runner expires it): it needs no slot.
    if (!cap || !token || (p.deadline > 0 && Date.now() > p.deadline)) return true;
    const { taken } = await this.slots.take(p.id, cap, this.o.leaseMs, { queue: job.queueName, bullId: job.id! }, job.opts.priority ?? 0);
    if (taken) {
      this.held.set(p.id, { tenant: cap.tenant, token });
      this.deferrals.delete(p.id);
      if (!this.timer) {
        this.timer = setInterval(() => void this.renew(), Math.max(50, renewalPeriodMs(this.o.leaseMs)));
        this.timer.unref();
      }
      return true;
    }
    const n = this.deferrals.get(p.id) ?? 0;
    if (this.deferrals.size >= MAX_TRACKED_DEFERRALS) this.deferrals.clear();
    this.deferrals.set(p.id, n + 1);
    await job.moveToDelayed(Date.now() + this.backoffMs(n), token);
    metrics.jobsDeferred.inc({ model: p.model });
    return false;
  }

  /** The wait before a job put back `n` times before is offered again: doubling, bounded, jittered. */
  backoffMs(n: number): number {
    const { deferMinMs: min, deferMaxMs: max } = this.o;
    const base = Math.min(max, min * 2 ** Math.min(n, 20));
    return Math.max(min, Math.round(base * (0.75 + 0.25 * Math.random())));
  }

  /**
   * Gives the job's slot back if this run (`token`) holds one here, after success, failure,
   * cancel or a retry, and wakes the tenant's first parked job.
   */
  async release(jobId: string, token: string | undefined): Promise<void> {
    const h = this.held.get(jobId);
    if (!h || h.token !== token) return;
    const { tenant } = h;
    this.held.delete(jobId);
    if (this.held.size === 0) this.stopTimer();
    try {
      for (let i = 0; i < WAKE_TRIES; i++) {
        const [next] = await this.slots.release(tenant, jobId);
        if (!next || (await this.waker.wake(next))) return;
      }
    } catch (err) {
      // Only delays the slot's return to the end of its lease, and the parked jobs to their wait.
      this.log.warn({ err, jobId, tenant }, 'Giving back a running slot failed; it returns when its lease runs out');
    }
  }

  /**
   * The job's lock was lost: another worker may be running it now under the same slot (a stalled
   * job keeps its slot). Stop renewing it here and leave the slot to that worker or to its lease.
   */
  abandon(jobId: string): void {
    this.held.delete(jobId);
    if (this.held.size === 0) this.stopTimer();
  }

  private async renew(): Promise<void> {
    const byTenant = new Map<string, string[]>();
    for (const [jobId, { tenant }] of this.held) byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), jobId]);
    await Promise.all(
      [...byTenant].map(async ([tenant, ids]) => {
        try {
          const renewed = await this.slots.renew(tenant, ids, this.o.leaseMs);
          if (renewed < ids.length) this.log.warn({ tenant, held: ids.length, renewed }, 'Running slots expired before their renewal; those jobs run uncounted until they end');
        } catch (err) {
          this.log.warn({ err, tenant }, 'Renewing running slots failed');
        }
      }),
    );
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async close(): Promise<void> {
    this.stopTimer();
    await this.waker.close();
  }
}
