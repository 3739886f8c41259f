/**
 * Load/unload/stage/drain commands to a worker, on its control stream (`keys.workerControl(id)`, field
 * `command`): the one writer (`sendControl`) and the one reader (`parseControlCommand`).
 */
import { z } from 'zod';
import { parseJsonAs } from './parse-json.ts';

export const controlCommandSchema = z.discriminatedUnion('type', [
  /** stage: read the model's file into the host's page cache (no VRAM), for a fast load later. */
  z.object({ type: z.enum(['load', 'unload', 'stage']), model: z.string().min(1), requestId: z.string(), at: z.number().finite() }),
  /** Stop taking jobs, let active ones finish, unload everything and stay empty until released (scale-down). */
  z.object({ type: z.literal('drain'), requestId: z.string(), at: z.number().finite() }),
]);
export type ControlCommand = z.infer<typeof controlCommandSchema>;

/** Entries kept per worker's control stream (approximate trim); a worker deletes each once handled. */
export const CONTROL_STREAM_MAX_LEN = 1_000;

/** A stream entry's fields (`[name, value, ...]`) to its command; null when missing or malformed. */
export function parseControlCommand(fields: readonly string[]): ControlCommand | null {
  const i = fields.indexOf('command');
  return i < 0 || fields[i + 1] === undefined ? null : parseJsonAs(controlCommandSchema, fields[i + 1]!);
}
