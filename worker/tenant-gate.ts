/**
 * The worker's side of the tenants' running caps. Before a capped job runs, it takes one of its
 * tenant's running slots (protocol/tenant-slots.ts). At the cap the job goes back to its queue
 * untouched for a short, growing wait (BullMQ's delayed set; its priority, and so its fair-share
 * place, is kept): its record stays `queued`, no attempt is counted, no status event is written,
 * and the worker takes its next job. Slots held here are renewed while their jobs run and given
 * back when they end; a job without a cap costs nothing here.
 */
import type { Job } from 'bullmq';
import type { JobPayload } from '../protocol/job.js';
import type { Logger } from '../protocol/logger.js';
import type { TenantSlots } from '../protocol/tenant-slots.js';
import { metrics } from './metrics.js';

export interface TenantGateOptions {
  leaseMs: number;
  deferMinMs: number;
  deferMaxMs: number;
}

/** Put-back counts are per job on this worker; past this many jobs the memory starts over. */
const MAX_TRACKED_DEFERRALS = 10_000;

export class TenantGate {
  /** Slots held by jobs running here: job id -> tenant. */
  private readonly held = new Map<string, string>();
  /** Times each job was put back by this worker, for its next wait. */
  private readonly deferrals = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly slots: TenantSlots,
    private readonly log: Logger,
    private readonly o: TenantGateOptions,
  ) {}

  /**
   * True: run the job (it holds its slot, or has no cap). False: the job is back in its queue
   * and the processor must throw BullMQ's DelayedError.
   */
  async admit(job: Job<JobPayload>, token: string | undefined): Promise<boolean> {
    const p = job.data;
    const cap = p.runningCap;
    // A job past its deadline runs no engine work (the runner expires it): it needs no slot.
    if (!cap || !token || (p.deadline > 0 && Date.now() > p.deadline)) return true;
    const { taken } = await this.slots.take(p.id, cap, this.o.leaseMs);
    if (taken) {
      this.held.set(p.id, cap.tenant);
      this.deferrals.delete(p.id);
      if (!this.timer) {
        this.timer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.o.leaseMs / 3)));
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

  /** Gives the job's slot back, if it holds one here (after success, failure, cancel or a retry). */
  async release(jobId: string): Promise<void> {
    const tenant = this.held.get(jobId);
    if (tenant === undefined) return;
    this.held.delete(jobId);
    if (this.held.size === 0) this.stopTimer();
    // Failing here only delays the slot's return to the end of its lease.
    await this.slots.release(tenant, jobId).catch((err) => this.log.warn({ err, jobId, tenant }, 'Giving back a running slot failed; it returns when its lease runs out'));
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
    for (const [jobId, tenant] of this.held) byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), jobId]);
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

  close(): void {
    this.stopTimer();
  }
}
