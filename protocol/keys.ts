/**
 * Every Redis key the fabric uses (besides BullMQ's own, which live under `bullPrefix`)
 * comes from this builder, so a namespace change is one line and tests can isolate.
 * Keys are `<prefix>:{<tag>}:...`: the hash tag says which keys share a Redis Cluster slot
 * (protocol/slot-tags.ts). Pub/sub channels carry no tag.
 */
import { ConfigError } from './env.ts';
import { FLEET_TAG, jobTag, modelTag, tenantTag } from './slot-tags.ts';

export interface Keys {
  readonly prefix: string;
  /** Prefix handed to BullMQ queues and workers (queue names carry their own tag). */
  readonly bullPrefix: string;
  /** A key in this namespace sharing `tag`'s slot, for key builders derived from this one. */
  tagged(tag: string, ...parts: string[]): string;
  job(id: string): string;
  jobEvents(id: string): string;
  /** Pub/sub channel announcing every job event: `<jobId> <streamId> <type> [status | token text]` (store/scripts/includes/job-events.lua). */
  eventsBus(): string;
  jobDeliveries(id: string): string;
  /** A stored Responses API response (JSON, expiring), in its job's slot; `jobId` is the job it ran as. */
  response(jobId: string): string;
  idempotency(tenant: string, key: string): string;
  /** Queued jobs' expiry deadlines of one tag's jobs (zset, score: epoch ms), for the expiry sweeper. */
  deadlines(tag: string): string;
  /** Tags whose deadlines zset may hold entries (set), so the sweeper knows where to look. */
  deadlineTags(): string;
  /** Held by the API instance sweeping expired jobs this interval. */
  expirySweepLock(): string;
  catalog(): string;
  workersIndex(): string;
  workerHeartbeat(workerId: string): string;
  workerControl(workerId: string): string;
  cancelChannel(): string;
  schedulerWake(): string;
  /** Workers announce here that a model went idle or their residency changed (the scheduler listens while a cold backlog is blocked). */
  schedulerIdle(): string;
  schedulerLease(): string;
  /** Capped stream of the scheduler's recent actions with their reasons (for the cluster view). */
  schedulerDecisions(): string;
  /** A model's arrival history (hash, see protocol/arrivals.ts). */
  modelArrivals(model: string): string;
  /** Measured model footprints, field `<engine> <model>`. */
  footprints(): string;
  /** Measured load speeds, field `<engine> <tier>` (protocol/load-speeds.ts). */
  loadSpeeds(): string;
  /** A tenant's request bucket (hash: tokens, ts), see store/scripts/tenant-gate.lua. */
  tenantBucket(tenant: string): string;
  /** A tenant's jobs waiting and running across the fleet (hash: queued, running). */
  tenantJobs(tenant: string): string;
  /** A tenant's running slots (zset: job id -> lease expiry, Redis time ms), see store/tenant-slots.ts. */
  tenantRunning(tenant: string): string;
  /** A tenant's jobs put back at its running cap (zset: `<queue>\n<BullMQ id>` -> BullMQ priority), woken as slots free up. */
  tenantParked(tenant: string): string;
  /** A tenant's usage on one UTC day `YYYY-MM-DD` (hash: jobs, prompt_tokens, completion_tokens, gpu_ms, ...). */
  tenantUsage(tenant: string, day: string): string;
  /** Operators' holds and pins by model (hash, see protocol/operator-holds.ts). */
  operatorHolds(): string;
  /** Usage of all tenants together since the start (hash, fields as tenantUsage), for the `unknown` metric label. */
  fleetUsage(): string;
  /** Fair-share virtual clock of one model and priority class (hash: tenant -> next start tag). */
  fairClock(model: string, priorityClass: string): string;
  /** Aliases and derived models by name (hash, see protocol/model-aliases.ts). */
  modelAliases(): string;
  /** Progress reports of one pull or delete on the workers (stream, see protocol/pull.ts). */
  pullProgress(requestId: string): string;
  /** Jobs of a model created and not yet in its BullMQ queue (zset, see store/scripts/job-create.lua): counted against the backlog bound. */
  modelAdmissions(model: string): string;
}

export function createKeys(prefix = 'fabric'): Keys {
  // A brace in the prefix would become every key's hash tag: the whole fabric on one slot.
  if (/[{}]/.test(prefix)) throw new ConfigError(`FABRIC_PREFIX must not contain { or } (keys carry their own hash tags), got ${JSON.stringify(prefix)}`);
  const k = (...parts: string[]) => [prefix, ...parts].join(':');
  const at = (tag: string, ...parts: string[]) => k(`{${tag}}`, ...parts);
  const fleet = (...parts: string[]) => at(FLEET_TAG, ...parts);
  return {
    prefix,
    bullPrefix: k('q'),
    tagged: at,
    job: (id) => at(jobTag(id), 'job', id),
    jobEvents: (id) => at(jobTag(id), 'job', id, 'events'),
    eventsBus: () => k('events'),
    jobDeliveries: (id) => at(jobTag(id), 'job', id, 'deliveries'),
    response: (jobId) => at(jobTag(jobId), 'response', jobId),
    idempotency: (tenant, key) => at(tenantTag(tenant), 'idem', key),
    deadlines: (tag) => at(tag, 'deadlines'),
    deadlineTags: () => fleet('deadline-tags'),
    expirySweepLock: () => fleet('deadlines', 'lock'),
    catalog: () => fleet('catalog'),
    workersIndex: () => fleet('workers'),
    workerHeartbeat: (workerId) => fleet('worker', workerId),
    workerControl: (workerId) => fleet('worker', workerId, 'control'),
    cancelChannel: () => k('cancel'),
    schedulerWake: () => k('scheduler', 'wake'),
    schedulerIdle: () => k('scheduler', 'idle'),
    schedulerLease: () => fleet('scheduler', 'lease'),
    schedulerDecisions: () => fleet('scheduler', 'decisions'),
    modelArrivals: (model) => at(modelTag(model), 'model', model, 'arrivals'),
    footprints: () => fleet('footprints'),
    loadSpeeds: () => fleet('load-speeds'),
    tenantBucket: (tenant) => at(tenantTag(tenant), 'bucket'),
    tenantJobs: (tenant) => at(tenantTag(tenant), 'jobs'),
    tenantRunning: (tenant) => at(tenantTag(tenant), 'running'),
    tenantParked: (tenant) => at(tenantTag(tenant), 'parked'),
    tenantUsage: (tenant, day) => at(tenantTag(tenant), 'usage', day),
    operatorHolds: () => fleet('operator', 'holds'),
    fleetUsage: () => fleet('usage', 'total'),
    fairClock: (model, priorityClass) => at(modelTag(model), 'model', model, 'fair', priorityClass),
    modelAliases: () => fleet('model', 'aliases'),
    pullProgress: (requestId) => fleet('pull', requestId),
    modelAdmissions: (model) => at(modelTag(model), 'model', model, 'admissions'),
  };
}
