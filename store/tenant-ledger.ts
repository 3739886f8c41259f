/**
 * The tenants' shared ledger in Redis: the per-request gate (rate, token budget), admission of
 * a job (waiting cap, fair-share tag), the waiting/running counts that follow each job's status,
 * and usage per UTC day. Scripts: store/scripts/tenant-*.lua.
 */
import type { Keys } from '../protocol/keys.ts';
import { isCluster, type RedisClient } from './redis-client.ts';
import type { StoredStatus } from '../protocol/statuses.ts';
import { TERMINAL_STATUSES } from '../protocol/statuses.ts';
import type { TenantLimit } from '../protocol/tenant-limits.ts';
import { priorityBand, type PriorityClass } from '../protocol/tenant-fairness.ts';
import { Scripts, type AdmissionArgs, type AdmitReply, type GateReply } from './scripts/registry.ts';

/** Usage days are kept this long. */
export const USAGE_TTL_SEC = 400 * 24 * 3600;
const DAY_MS = 24 * 3600 * 1000;

export type GateResult = GateReply;
export type GateLimit = NonNullable<GateResult['refused']>;

export type AdmitResult = { admitted: true; priority: number } | { admitted: false; waiting: number };

export interface UsageDay {
  day: string;
  jobs: number;
  succeeded: number;
  failed: number;
  prompt_tokens: number;
  completion_tokens: number;
  gpu_seconds: number;
}

/** What a status change moved, as the job store reports it. */
export interface JobMove {
  tenant: string;
  model: string;
  from: StoredStatus;
  to: StoredStatus;
  startedAt: number | null;
  finishedAt: number | null;
  usage: { prompt_tokens?: number; completion_tokens?: number } | null;
  /** The waiting/running counts already moved with the status (in the transition script). */
  counted?: boolean;
  /** False for a job not counted among its tenant's waiting jobs (a batch line). */
  countsWaiting?: boolean;
}

/**
 * The admission's arguments (store/scripts/includes/admission.lua): batch lines are never counted
 * as waiting; `counted` false for a retried job, already counted by its status change.
 */
export function admitArgs(tenant: string, cls: PriorityClass, limit: TenantLimit, counted: boolean): AdmissionArgs {
  const band = priorityBand(cls);
  return { tenant, weight: limit.weight, classBase: band.base, bandSize: band.size, waitingCap: limit.maxWaiting, count: counted && cls !== 'batch' };
}

/** `YYYY-MM-DD` in UTC. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function msToNextUtcDay(now: number): number {
  return DAY_MS - (now % DAY_MS);
}

export class TenantLedger {
  private readonly scripts: Scripts;
  /**
   * One server (or a sentinel-managed master): the job's own scripts may touch its tenant's keys.
   * False on a Redis Cluster, where they live in other slots. Decided here, once per client.
   */
  readonly oneServer: boolean;

  private readonly redis: RedisClient;
  private readonly keys: Keys;
  constructor(
    redis: RedisClient,
    keys: Keys,
  ) {
    this.redis = redis;
    this.keys = keys;
    this.scripts = Scripts.for(redis);
    this.oneServer = !isCluster(redis);
  }

  /** The one round trip of every tenant request: takes a request from the bucket, checks the token budget. */
  gate(tenant: string, limit: TenantLimit, submits: boolean, now = Date.now()): Promise<GateResult> {
    const bucketTtlMs = limit.requestsPerSecond > 0 ? Math.ceil((limit.burst / limit.requestsPerSecond) * 1000) + 1000 : 1000;
    return this.scripts.tenantGate({
      bucket: this.keys.tenantBucket(tenant),
      usageToday: this.keys.tenantUsage(tenant, utcDay(now)),
      now,
      requestsPerSecond: limit.requestsPerSecond,
      burst: limit.burst,
      dailyTokens: limit.dailyTokens,
      bucketTtlMs,
      submits,
      msToNextDay: msToNextUtcDay(now),
    });
  }

  /**
   * Admits a job to `prioritizedKey` (its model's BullMQ prioritized zset): under the waiting cap
   * it is counted as waiting and gets its BullMQ priority (class band + fair-share tag).
   * `counted` false: a retried job, already counted by its status change.
   */
  async admit(a: { tenant: string; model: string; cls: PriorityClass; limit: TenantLimit; prioritizedKey: string; counted?: boolean }): Promise<AdmitResult> {
    const band = priorityBand(a.cls);
    const tenantJobs = this.keys.tenantJobs(a.tenant);
    const fairClock = this.keys.fairClock(a.model, a.cls);
    const admission = admitArgs(a.tenant, a.cls, a.limit, a.counted !== false);
    const r = !this.oneServer
      ? await this.admitAcrossSlots(tenantJobs, fairClock, a.prioritizedKey, admission, a.cls)
      : await this.scripts.tenantAdmit({ tenantJobs, fairClock, prioritized: a.prioritizedKey, admission });
    return r.admitted ? { admitted: true, priority: band.base + r.offset } : r;
  }

  /** On a cluster: the cap and count on the tenant's slot, then the fair tag on the model's; the count is given back if the tag fails. */
  private async admitAcrossSlots(tenantJobs: string, fairClock: string, prioritized: string, admission: AdmissionArgs, cls: PriorityClass): Promise<AdmitReply> {
    const capped = await this.scripts.tenantAdmitCap({ tenantJobs, admission });
    if (!capped.admitted) return capped;
    try {
      return { admitted: true, offset: await this.scripts.tenantFairTag({ fairClock, prioritized, admission }) };
    } catch (err) {
      if (admission.count) await this.release(admission.tenant, cls).catch(() => undefined);
      throw err;
    }
  }

  /** Gives back an admission whose job was not created after all. */
  async release(tenant: string, cls: PriorityClass): Promise<void> {
    if (cls !== 'batch') await this.redis.hincrby(this.keys.tenantJobs(tenant), 'queued', -1);
  }

  /**
   * Follows one job's status change into the waiting/running counts and, once it ends, usage,
   * when the transition script did not (`counted`): in Lua (tenant-account.lua), one script on
   * one server; on a cluster one on the tenant's slot and, for an end, one on the fleet usage's.
   */
  async account(m: JobMove): Promise<void> {
    if (!m.tenant || m.from === m.to || m.counted) return;
    const finishedAt = m.finishedAt ?? Date.now();
    const ended = TERMINAL_STATUSES.has(m.to);
    const change = {
      from: m.from,
      to: m.to,
      // Batch lines are not among the waiting jobs the admission counted.
      countsWaiting: m.countsWaiting !== false,
      startedAt: m.startedAt,
      finishedAt,
      promptTokens: Math.max(0, Math.round(m.usage?.prompt_tokens ?? 0)),
      completionTokens: Math.max(0, Math.round(m.usage?.completion_tokens ?? 0)),
    };
    // Per day (kept USAGE_TTL_SEC), per tenant since the start, and the fleet's total.
    const tenantUsages = [this.keys.tenantUsage(m.tenant, utcDay(finishedAt)), this.keys.tenantUsage(m.tenant, 'total')];
    const tenantJobs = this.keys.tenantJobs(m.tenant);
    if (this.oneServer) {
      await this.scripts.tenantAccount({ ...change, tenantJobs, usages: [...tenantUsages, this.keys.fleetUsage()], dayTtlSec: USAGE_TTL_SEC });
      return;
    }
    await Promise.all([
      this.scripts.tenantAccount({ ...change, tenantJobs, usages: ended ? tenantUsages : [], dayTtlSec: ended ? USAGE_TTL_SEC : 0 }),
      ...(ended ? [this.scripts.tenantAccount({ ...change, tenantJobs: null, usages: [this.keys.fleetUsage()], dayTtlSec: 0 })] : []),
    ]);
  }

  /** Whether the tenant has used its daily token budget today (UTC); never with no budget (and no round trip). */
  async budgetUsedUp(tenant: string, limit: TenantLimit, now = Date.now()): Promise<boolean> {
    if (limit.dailyTokens <= 0) return false;
    const [p, c] = await this.redis.hmget(this.keys.tenantUsage(tenant, utcDay(now)), 'prompt_tokens', 'completion_tokens');
    return Number(p ?? 0) + Number(c ?? 0) >= limit.dailyTokens;
  }

  /** Waiting and running jobs of a tenant across the fleet. */
  async counts(tenant: string): Promise<{ queued: number; running: number }> {
    const [q, r] = await this.redis.hmget(this.keys.tenantJobs(tenant), 'queued', 'running');
    return { queued: Math.max(0, Number(q ?? 0)), running: Math.max(0, Number(r ?? 0)) };
  }

  /** Usage since the start: of one tenant, or of the whole fleet when `tenant` is null. */
  async totals(tenant: string | null): Promise<Omit<UsageDay, 'day'>> {
    return toUsage(await this.redis.hgetall(tenant === null ? this.keys.fleetUsage() : this.keys.tenantUsage(tenant, 'total')));
  }

  /** A tenant's usage on each of the `days` UTC days ending with `until`'s, oldest first. */
  async usage(tenant: string, days: number, until = Date.now()): Promise<UsageDay[]> {
    const list = Array.from({ length: days }, (_, i) => utcDay(until - (days - 1 - i) * DAY_MS));
    const tx = this.redis.multi();
    for (const day of list) tx.hgetall(this.keys.tenantUsage(tenant, day));
    const rows = ((await tx.exec()) ?? []).map(([, h]) => (h ?? {}) as Record<string, string>);
    return list.map((day, i) => ({ day, ...toUsage(rows[i] ?? {}) }));
  }
}

function toUsage(h: Record<string, string>): Omit<UsageDay, 'day'> {
  const n = (f: string) => Number(h[f] ?? 0);
  // Jobs by how they ended (`jobs_<status>`); their sum is the jobs that ended.
  const jobs = Object.keys(h).reduce((s, f) => (f.startsWith('jobs_') ? s + n(f) : s), 0);
  return { jobs, succeeded: n('jobs_succeeded'), failed: n('jobs_failed'), prompt_tokens: n('prompt_tokens'), completion_tokens: n('completion_tokens'), gpu_seconds: n('gpu_ms') / 1000 };
}
