/**
 * Every Lua script of the fabric, registered once per Redis client (ioredis `defineCommand`:
 * EVALSHA, falling back to EVAL once per connection) and called through one typed method each:
 * named arguments in, a parsed reply out. Each script's KEYS and ARGV are documented in the
 * header of its `.lua` file; this file (with definitions.ts) is the only one that knows their order. No other file
 * sends `EVAL` or `EVALSHA`.
 */
import {
  NO_ADMISSION,
  SCRIPTS,
  admissionArgv,
  admitReply,
  scriptSources,
  type AdmissionArgs,
  type AdmitReply,
  type Arg,
  type GateReply,
  type JobCreateReply,
  type JobTransitionReply,
  type ScriptName,
  type TransitionKeys,
} from './definitions.ts';

export { ADMISSION_TTL_MS, BUS_TOKEN_MAX_BYTES, scriptSources } from './definitions.ts';
export type { AdmissionArgs, AdmitReply, GateReply, JobCreateReply, JobTransitionReply, TransitionKeys } from './definitions.ts';

/** What the registry needs of a client: ioredis' `defineCommand` (a `Redis` or a `Cluster`). */
export interface ScriptHost {
  defineCommand(name: string, definition: { numberOfKeys?: number; lua: string }): void;
}

const instances = new WeakMap<ScriptHost, Scripts>();

export class Scripts {
  /** The scripts on `redis`, registered on first use. */
  static for(redis: ScriptHost): Scripts {
    let s = instances.get(redis);
    if (!s) instances.set(redis, (s = new Scripts(redis)));
    return s;
  }

  private readonly redis: ScriptHost;
  private constructor(redis: ScriptHost) {
    this.redis = redis;
    for (const [name, lua] of scriptSources()) {
      const numberOfKeys = SCRIPTS[name][2];
      redis.defineCommand(SCRIPTS[name][0], numberOfKeys === null ? { lua } : { numberOfKeys, lua });
    }
  }

  private run<T>(name: ScriptName, keys: readonly string[], args: readonly Arg[]): Promise<T> {
    const command = (this.redis as unknown as Record<string, (...a: Arg[]) => Promise<T>>)[SCRIPTS[name][0]]!;
    return SCRIPTS[name][2] === null ? command.call(this.redis, keys.length, ...keys, ...args) : command.call(this.redis, ...keys, ...args);
  }

  /** job-create.lua: admits (unless `admission` is null and `priority` given) and creates a job's record. */
  async jobCreate(a: {
    keys: {
      job: string;
      events: string;
      wait: string;
      prioritized: string;
      deadlines: string;
      admissions: string;
      tenantJobs: string;
      fairClock: string;
    };
    maxBacklog: number;
    eventsMaxLen: number;
    firstEvent: string;
    jobId: string;
    deadline: number;
    admission: AdmissionArgs | null;
    priority: number;
    now: number;
    fields: readonly string[];
  }): Promise<JobCreateReply> {
    const k = a.keys;
    const r = await this.run<number[]>(
      'jobCreate',
      [k.job, k.events, k.wait, k.prioritized, k.deadlines, k.admissions, k.tenantJobs, k.fairClock],
      [
        a.maxBacklog,
        a.eventsMaxLen,
        a.firstEvent,
        a.jobId,
        a.deadline,
        ...(a.admission ? admissionArgv(a.admission) : NO_ADMISSION),
        a.admission ? '1' : '0',
        a.priority,
        a.now,
        ...a.fields,
      ],
    );
    if (r[0] === 1) return { created: true, position: r[1]!, depth: r[2]!, priority: r[3]! };
    return r[0] === 2 ? { created: false, waiting: r[1]! } : { created: false, backlog: r[1]! };
  }

  /** job-clear-deadlines.lua: drops swept `ids` whose deadline is still at or before `now`. */
  jobClearDeadlines(a: { deadlines: string; now: number; ids: readonly string[] }): Promise<number> {
    return this.run('jobClearDeadlines', [a.deadlines], [a.now, ...a.ids]);
  }

  /** job-transition.lua: a job's status compare-and-set with its event, expiry and (with `tenant`) accounting. */
  async jobTransition(a: {
    keys: TransitionKeys;
    to: string;
    from: readonly string[];
    event: string;
    channel: string;
    ttlSec: number;
    eventsMaxLen: number;
    jobId: string;
    pendingText: string;
    tenant: string;
    promptTokens: number;
    completionTokens: number;
    finishedAt: number;
    dayTtlSec: number;
    fields: readonly string[];
  }): Promise<JobTransitionReply> {
    const k = a.keys;
    const r = await this.run<[number, string?, string?, string?, string?, string?, number?, string?]>(
      'jobTransition',
      [k.job, k.events, k.tenantJobs, k.dayUsage, k.totalUsage, k.fleetUsage],
      [
        a.to,
        a.from.join(','),
        a.event,
        a.channel,
        a.ttlSec,
        a.eventsMaxLen,
        a.jobId,
        a.pendingText,
        a.tenant,
        a.promptTokens,
        a.completionTokens,
        a.finishedAt,
        a.dayTtlSec,
        ...a.fields,
      ],
    );
    if (r[0] !== 1) return { applied: false, current: r[0] === 0 ? (r[1] ?? null) : null };
    return {
      applied: true,
      eventId: r[1]!,
      previous: r[2]!,
      tenant: r[3] ?? '',
      model: r[4] ?? '',
      startedAt: r[5] ? Number(r[5]) : null,
      counted: r[6] === 1,
      countsWaiting: r[7] !== '0',
    };
  }

  /** job-append.lua: appends a non-status event and announces it; returns its stream id. */
  jobAppend(a: { events: string; type: string; data: string; eventsMaxLen: number; channel: string; jobId: string }): Promise<string> {
    return this.run('jobAppend', [a.events], [a.type, a.data, a.eventsMaxLen, a.channel, a.jobId]);
  }

  /** tenant-gate.lua: takes a request from the tenant's bucket and checks its daily token budget. */
  async tenantGate(a: {
    bucket: string;
    usageToday: string;
    now: number;
    requestsPerSecond: number;
    burst: number;
    dailyTokens: number;
    bucketTtlMs: number;
    submits: boolean;
    msToNextDay: number;
  }): Promise<GateReply> {
    const r = await this.run<number[]>(
      'tenantGate',
      [a.bucket, a.usageToday],
      [a.now, a.requestsPerSecond, a.burst, a.dailyTokens, a.bucketTtlMs, a.submits ? '1' : '0', a.msToNextDay],
    );
    return {
      allowed: r[0] === 1,
      refused: r[1] === 1 ? 'requests' : r[1] === 2 ? 'tokens' : null,
      remainingRequests: r[2]! < 0 ? null : r[2]!,
      resetRequestsMs: r[3]!,
      retryAfterMs: r[4]!,
      tokensUsedToday: r[5]!,
    };
  }

  /** tenant-admit.lua: the whole admission on one server. */
  async tenantAdmit(a: { tenantJobs: string; fairClock: string; prioritized: string; admission: AdmissionArgs }): Promise<AdmitReply> {
    return admitReply(await this.run<number[]>('tenantAdmit', [a.tenantJobs, a.fairClock, a.prioritized], admissionArgv(a.admission)));
  }

  /** tenant-admit-cap.lua: the tenant's half of an admission on a cluster (cap and count). */
  async tenantAdmitCap(a: { tenantJobs: string; admission: AdmissionArgs }): Promise<AdmitReply> {
    return admitReply(await this.run<number[]>('tenantAdmitCap', [a.tenantJobs], admissionArgv(a.admission)));
  }

  /** tenant-fair-tag.lua: the model's half of an admission on a cluster; returns the offset in the band. */
  async tenantFairTag(a: { fairClock: string; prioritized: string; admission: AdmissionArgs }): Promise<number> {
    const r = await this.run<number[]>('tenantFairTag', [a.fairClock, a.prioritized], admissionArgv(a.admission));
    return r[1]!;
  }

  /** slot-take.lua: takes a running slot under the tenant's cap, or parks the job. */
  async slotTake(a: {
    slots: string;
    parked: string;
    jobId: string;
    cap: number;
    leaseMs: number;
    member: string;
    priority: number;
    parkedTtlMs: number;
  }): Promise<{ taken: boolean; running: number }> {
    const [taken, running] = await this.run<[number, number]>(
      'slotTake',
      [a.slots, a.parked],
      [a.jobId, a.cap, a.leaseMs, a.member, a.priority, a.parkedTtlMs],
    );
    return { taken: taken === 1, running };
  }

  /** slot-renew.lua: renews the leases of slots still held; returns how many. */
  slotRenew(a: { slots: string; leaseMs: number; jobIds: readonly string[] }): Promise<number> {
    return this.run('slotRenew', [a.slots], [a.leaseMs, ...a.jobIds]);
  }

  /** slot-release.lua: gives a slot back; returns up to `wake` parked members to wake. */
  slotRelease(a: { slots: string; parked: string; jobId: string; wake: number }): Promise<string[]> {
    return this.run('slotRelease', [a.slots, a.parked], [a.jobId, a.wake]);
  }

  /** arrivals-record.lua: records arrival times (epoch ms, oldest first) in a model's history. */
  arrivalsRecord(a: {
    arrivals: string;
    rateTauMs: number;
    bucketBaseMs: number;
    buckets: number;
    histogramCap: number;
    ttlMs: number;
    times: readonly number[];
  }): Promise<number> {
    return this.run(
      'arrivalsRecord',
      [a.arrivals],
      [a.rateTauMs, a.bucketBaseMs, a.buckets, a.histogramCap, a.ttlMs, ...a.times.map((t) => Math.round(t))],
    );
  }

  /** batch-transition.lua: a batch's status compare-and-set; `current` null when there is no such batch. */
  async batchTransition(a: {
    batch: string;
    to: string;
    from: readonly string[];
    fields: readonly string[];
  }): Promise<{ applied: true } | { applied: false; current: string | null }> {
    const r = await this.run<number | string>('batchTransition', [a.batch], [a.to, a.from.join(','), ...a.fields]);
    return r === 1 ? { applied: true } : { applied: false, current: r === '' ? null : String(r) };
  }

  /** batch-collect.lua: records a line's result if it was still pending; true when this call wrote it. */
  async batchCollect(a: {
    pending: string;
    list: string;
    batch: string;
    line: number;
    text: string;
    counterField: string;
    bytesField: string;
  }): Promise<boolean> {
    return (
      (await this.run<number>('batchCollect', [a.pending, a.list, a.batch], [String(a.line), a.text, a.counterField, a.bytesField])) === 1
    );
  }

  /**
   * tenant-account.lua: counts a status change for a tenant apart from the job's transition:
   * `tenantJobs` (null: counts not moved; then any key of the usages' slot goes first) and the
   * `usages` an end is counted in, the first kept `dayTtlSec` when given.
   */
  async tenantAccount(a: {
    tenantJobs: string | null;
    usages: readonly string[];
    dayTtlSec: number;
    from: string;
    to: string;
    countsWaiting: boolean;
    startedAt: number | null;
    finishedAt: number;
    promptTokens: number;
    completionTokens: number;
  }): Promise<void> {
    await this.run(
      'tenantAccount',
      [a.tenantJobs ?? a.usages[0]!, ...a.usages],
      [
        a.from,
        a.to,
        a.countsWaiting ? '1' : '0',
        a.startedAt ?? '',
        a.finishedAt,
        a.promptTokens,
        a.completionTokens,
        a.dayTtlSec,
        a.tenantJobs === null ? '0' : '1',
      ],
    );
  }

  /** lease-renew.lua: extends the lease if `owner` holds it. */
  async leaseRenew(a: { key: string; owner: string; ttlMs: number }): Promise<boolean> {
    return (await this.run<number>('leaseRenew', [a.key], [a.owner, a.ttlMs])) === 1;
  }

  /** lease-release.lua: deletes the lease if `owner` holds it. */
  async leaseRelease(a: { key: string; owner: string }): Promise<boolean> {
    return (await this.run<number>('leaseRelease', [a.key], [a.owner])) === 1;
  }
}
