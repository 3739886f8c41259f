/**
 * The fabric's Lua scripts as data: each one's command name (as Redis' command stats show it),
 * file and KEYS count, the constants filled into them, and the argument and reply types of the
 * registry's methods (registry.ts).
 */
import { TERMINAL_STATUSES } from '../../protocol/statuses.ts';
import { loadLua } from './loader.ts';

/** Tokens up to this size ride on their bus message; longer ones are read from the stream. */
export const BUS_TOKEN_MAX_BYTES = 4096;
/** An admission left by a crash between a job's create and its BullMQ add lapses after this (job-create.lua). */
export const ADMISSION_TTL_MS = 30_000;

const CONSTANTS = { BUS_TOKEN_MAX_BYTES, ADMISSION_TTL_MS, TERMINAL_LIST: `,${[...TERMINAL_STATUSES].join(',')},` };

/** Command name (as Redis' command stats show it), file and KEYS count of each script. */
export const SCRIPTS = {
  jobCreate: ['fabricCreate', 'job-create', 8],
  jobClearDeadlines: ['fabricClearDeadlines', 'job-clear-deadlines', 1],
  jobTransition: ['fabricTransition', 'job-transition', 6],
  jobAppend: ['fabricAppend', 'job-append', 1],
  tenantGate: ['fabricTenantGate', 'tenant-gate', 2],
  tenantAdmit: ['fabricTenantAdmit', 'tenant-admit', 3],
  tenantAdmitCap: ['fabricTenantAdmitTenant', 'tenant-admit-cap', 1],
  tenantFairTag: ['fabricTenantFairTag', 'tenant-fair-tag', 2],
  slotTake: ['fabricTakeSlot', 'slot-take', 2],
  slotRenew: ['fabricRenewSlots', 'slot-renew', 1],
  slotRelease: ['fabricReleaseSlot', 'slot-release', 2],
  arrivalsRecord: ['fabricRecordArrivals', 'arrivals-record', 1],
  batchTransition: ['fabricBatchTransition', 'batch-transition', 1],
  batchCollect: ['fabricBatchCollect', 'batch-collect', 3],
  leaseRenew: ['fabricLeaseRenew', 'lease-renew', 1],
  leaseRelease: ['fabricLeaseRelease', 'lease-release', 1],
  // null: as many KEYS as the call gives.
  tenantAccount: ['fabricTenantAccount', 'tenant-account', null],
} as const satisfies Record<string, readonly [string, string, number | null]>;

export type ScriptName = keyof typeof SCRIPTS;
export type Arg = string | number;

let sources: Map<ScriptName, string> | null = null;

/** Each script's source, read and expanded once per process. */
export function scriptSources(): ReadonlyMap<ScriptName, string> {
  sources ??= new Map(Object.entries(SCRIPTS).map(([name, [, file]]) => [name as ScriptName, loadLua(file, CONSTANTS)]));
  return sources;
}

/** A tenant's admission of one job (admission.lua's six ARGV). */
export interface AdmissionArgs {
  tenant: string;
  weight: number;
  /** The class's lowest BullMQ priority and its band size. */
  classBase: number;
  bandSize: number;
  /** 0: none. */
  waitingCap: number;
  /** Count the job as waiting (false: a retry, already counted, or a batch line). */
  count: boolean;
}

export const admissionArgv = (a: AdmissionArgs): Arg[] => [a.tenant, a.weight, a.classBase, a.bandSize, a.waitingCap, a.count ? '1' : '0'];
/** Stands in for the admission's ARGV when the job was admitted already. */
export const NO_ADMISSION: Arg[] = ['', 1, 0, 0, 0, '0'];

export type JobCreateReply =
  | { created: true; position: number; depth: number; priority: number }
  | { created: false; backlog: number }
  | { created: false; waiting: number };

export type JobTransitionReply =
  | {
      applied: true;
      eventId: string;
      previous: string;
      tenant: string;
      model: string;
      /** Epoch ms, null when the job never started. */
      startedAt: number | null;
      /** The tenant's counts and usage moved in the same script. */
      counted: boolean;
      /** False for a job not counted among its tenant's waiting jobs (a batch line). */
      countsWaiting: boolean;
    }
  | { applied: false; current: string | null };

export interface GateReply {
  allowed: boolean;
  /** The limit that refused the request. */
  refused: 'requests' | 'tokens' | null;
  /** Requests left in the bucket, null when no rate limit applies. */
  remainingRequests: number | null;
  /** Ms until the bucket is full again. */
  resetRequestsMs: number;
  retryAfterMs: number;
  tokensUsedToday: number;
}

export type AdmitReply = { admitted: true; offset: number } | { admitted: false; waiting: number };

/** The keys a job's status change touches: its own, and its tenant's ledger (one server only). */
export interface TransitionKeys {
  job: string;
  events: string;
  tenantJobs: string;
  dayUsage: string;
  totalUsage: string;
  fleetUsage: string;
}

/** The reply of an admission script. */
export function admitReply(r: number[]): AdmitReply {
  return r[0] === 1 ? { admitted: true, offset: r[1]! } : { admitted: false, waiting: r[1]! };
}
