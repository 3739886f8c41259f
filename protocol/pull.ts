/**
 * A worker's reports on a pull (or a delete) an operator asked for, one stream entry each on
 * `keys.pullProgress(requestId)` (field `report`): Ollama's pull statuses as they come, then one
 * `done` or one `error` per worker. The API follows them to answer `POST /api/pull`.
 */
import { z } from 'zod';
import { parseJsonAs } from './parse-json.ts';

export const pullReportSchema = z.union([
  z.object({ worker: z.string(), status: z.string(), digest: z.string().optional(), completed: z.number().optional(), total: z.number().optional() }),
  z.object({ worker: z.string(), done: z.literal(true) }),
  /** `code`: the engine's error code (model_not_found when no source knows the name). */
  z.object({ worker: z.string(), error: z.string(), code: z.string() }),
]);
export type PullReport = z.infer<typeof pullReportSchema>;

/** Seconds a pull's report stream is kept after its last write. */
export const PULL_REPORT_TTL_SEC = 3600;

/** A stream entry's fields to its report; null when missing or malformed. */
export function parsePullReport(fields: readonly string[]): PullReport | null {
  const i = fields.indexOf('report');
  return i < 0 || fields[i + 1] === undefined ? null : parseJsonAs(pullReportSchema, fields[i + 1]!);
}
