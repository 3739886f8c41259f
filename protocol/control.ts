/**
 * Load/unload/stage/drain/pull/delete commands to a worker, on its control stream (`keys.workerControl(id)`, field
 * `command`): the one writer (`sendControl`) and the one reader (`parseControlCommand`).
 */
import { z } from 'zod';
import { parseJsonAs } from './parse-json.ts';

export const controlCommandSchema = z.discriminatedUnion('type', [
  /** stage: read the model's file into the host's page cache (no VRAM), for a fast load later. */
  z.object({ type: z.enum(['load', 'unload', 'stage']), model: z.string().min(1), requestId: z.string(), at: z.number().finite() }),
  /** Stop taking jobs, let active ones finish, unload everything and stay empty until released (scale-down). */
  z.object({ type: z.literal('drain'), requestId: z.string(), at: z.number().finite() }),
  /**
   * Fetch a model onto the worker's disk without loading it; progress goes to
   * `keys.pullProgress(requestId)` (protocol/pull.ts). `url`/`sha256`: a source for this pull only.
   */
  z.object({ type: z.literal('pull'), model: z.string().min(1), requestId: z.string(), at: z.number().finite(), url: z.string().optional(), sha256: z.string().optional() }),
  /** Unload the model (its running jobs finish first) and delete it from the worker's disk. */
  z.object({ type: z.literal('delete'), model: z.string().min(1), requestId: z.string(), at: z.number().finite() }),
]);
export type ControlCommand = z.infer<typeof controlCommandSchema>;

/** Entries kept per worker's control stream (approximate trim); a worker deletes each once handled. */
export const CONTROL_STREAM_MAX_LEN = 1_000;

/** A stream entry's fields (`[name, value, ...]`) to its command; null when missing or malformed. */
export function parseControlCommand(fields: readonly string[]): ControlCommand | null {
  const i = fields.indexOf('command');
  return i < 0 || fields[i + 1] === undefined ? null : parseJsonAs(controlCommandSchema, fields[i + 1]!);
}
