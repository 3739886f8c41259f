/**
 * Every Redis key the fabric uses (besides BullMQ's own, which live under `bullPrefix`)
 * comes from this builder, so a namespace change is one line and tests can isolate.
 */
export interface Keys {
  readonly prefix: string;
  /** Prefix handed to BullMQ queues and workers. */
  readonly bullPrefix: string;
  job(id: string): string;
  jobEvents(id: string): string;
  /** Pub/sub channel announcing every job event: `<jobId> <streamId> <type> [status | token text]` (protocol/job-store-scripts.ts). */
  eventsBus(): string;
  jobDeliveries(id: string): string;
  idempotency(tenant: string, key: string): string;
  /** Queued jobs' expiry deadlines (zset, score: epoch ms), for the expiry sweeper. */
  deadlines(): string;
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
  /** A tenant's request bucket (hash: tokens, ts), see protocol/tenant-scripts.ts. */
  tenantBucket(tenant: string): string;
  /** A tenant's jobs waiting and running across the fleet (hash: queued, running). */
  tenantJobs(tenant: string): string;
  /** A tenant's running slots (zset: job id -> lease expiry, Redis time ms), see protocol/tenant-slots.ts. */
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
  /** Jobs of a model created and not yet in its BullMQ queue (zset, see CREATE_LUA): counted against the backlog bound. */
  modelAdmissions(model: string): string;
}

export function createKeys(prefix = 'fabric'): Keys {
  const k = (...parts: string[]) => [prefix, ...parts].join(':');
  return {
    prefix,
    bullPrefix: k('q'),
    job: (id) => k('job', id),
    jobEvents: (id) => k('job', id, 'events'),
    eventsBus: () => k('events'),
    jobDeliveries: (id) => k('job', id, 'deliveries'),
    idempotency: (tenant, key) => k('idem', tenant, key),
    deadlines: () => k('deadlines'),
    expirySweepLock: () => k('deadlines', 'lock'),
    catalog: () => k('catalog'),
    workersIndex: () => k('workers'),
    workerHeartbeat: (workerId) => k('worker', workerId),
    workerControl: (workerId) => k('worker', workerId, 'control'),
    cancelChannel: () => k('cancel'),
    schedulerWake: () => k('scheduler', 'wake'),
    schedulerIdle: () => k('scheduler', 'idle'),
    schedulerLease: () => k('scheduler', 'lease'),
    schedulerDecisions: () => k('scheduler', 'decisions'),
    modelArrivals: (model) => k('model', model, 'arrivals'),
    footprints: () => k('footprints'),
    tenantBucket: (tenant) => k('tenant', tenant, 'bucket'),
    tenantJobs: (tenant) => k('tenant', tenant, 'jobs'),
    tenantRunning: (tenant) => k('tenant', tenant, 'running'),
    tenantParked: (tenant) => k('tenant', tenant, 'parked'),
    tenantUsage: (tenant, day) => k('tenant', tenant, 'usage', day),
    operatorHolds: () => k('operator', 'holds'),
    fleetUsage: () => k('usage', 'total'),
    fairClock: (model, priorityClass) => k('model', model, 'fair', priorityClass),
    modelAdmissions: (model) => k('model', model, 'admissions'),
  };
}
