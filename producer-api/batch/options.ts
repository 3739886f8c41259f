/** The Batch API's options, defaults in one place. Durations are milliseconds. */
import { checkBounds, type Bound } from '../../protocol/options-check.ts';

export interface BatchOptions {
  /** Largest upload (OpenAI's limit: 200 MB). */
  maxFileBytes: number;
  /** Most lines in one batch input file (OpenAI's limit: 50,000). */
  maxFileLines: number;
  /** How long files (inputs and results) are kept. */
  fileTtlMs: number;
  /** Lines of one batch queued or running at a time: keeps batches inside the backlog bound and interactive work first. */
  windowLines: number;
  /** Submissions in flight at once while a batch refills its window. */
  submitConcurrency: number;
  /** How often a runner looks for batches to drive and re-reads its pending jobs (missed events). */
  tickMs: number;
  /** Lease on a batch held by the API instance driving it; another takes over after it lapses. */
  leaseMs: number;
  /** Completion windows accepted besides OpenAI's `24h` (`<n>s|m|h|d`), bounded by these. */
  minWindowMs: number;
  maxWindowMs: number;
  /**
   * How long a line's job record stays readable (GET /v1/jobs/:id) once its result is in the
   * batch's output; 0 removes it at once. Its result lives on in the output file, and a
   * 50,000-line batch would otherwise keep 50,000 job records for the result TTL.
   */
  lineJobTtlMs: number;
  /** Validation errors kept in `errors.data`. */
  maxReportedErrors: number;
}

export const BATCH_DEFAULTS: BatchOptions = {
  maxFileBytes: 200 * 1024 * 1024,
  maxFileLines: 50_000,
  fileTtlMs: 30 * 24 * 3600_000,
  windowLines: 256,
  submitConcurrency: 32,
  tickMs: 500,
  leaseMs: 10_000,
  minWindowMs: 1_000,
  maxWindowMs: 7 * 24 * 3600_000,
  maxReportedErrors: 1_000,
  lineJobTtlMs: 0,
};

const positive: Bound = { min: 0, gt: true };

/** Every knob is a positive number but `lineJobTtlMs`, which may be 0; the variables are batch/config.ts's. */
const BOUNDS: Record<keyof BatchOptions, Bound> = {
  maxFileBytes: { ...positive, env: 'FABRIC_BATCH_MAX_FILE_BYTES' },
  maxFileLines: { ...positive, env: 'FABRIC_BATCH_MAX_LINES' },
  fileTtlMs: { ...positive, env: 'FABRIC_FILE_TTL' },
  windowLines: { ...positive, env: 'FABRIC_BATCH_WINDOW' },
  submitConcurrency: positive,
  tickMs: positive,
  leaseMs: positive,
  minWindowMs: positive,
  maxWindowMs: positive,
  lineJobTtlMs: { min: 0, env: 'FABRIC_BATCH_JOB_TTL' },
  maxReportedErrors: positive,
};

export function batchOptions(partial: Partial<BatchOptions> = {}): BatchOptions {
  const o = { ...BATCH_DEFAULTS };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined && k in o) (o as Record<string, number>)[k] = v as number;
  checkBounds('batch', o, BOUNDS);
  return o;
}
