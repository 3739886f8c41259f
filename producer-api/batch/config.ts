/** The Batch API's environment variables (read by the API's config module). */
import { envBytes, envDurationMs, envInt } from '../../protocol/env.ts';
import { BATCH_DEFAULTS, type BatchOptions } from './options.ts';

export function batchOptionsFromEnv(env: Record<string, string | undefined>): Partial<BatchOptions> {
  return {
    maxFileBytes: envBytes(env, 'FABRIC_BATCH_MAX_FILE_BYTES', BATCH_DEFAULTS.maxFileBytes),
    maxFileLines: envInt(env, 'FABRIC_BATCH_MAX_LINES', BATCH_DEFAULTS.maxFileLines, 1),
    fileTtlMs: envDurationMs(env, 'FABRIC_FILE_TTL', BATCH_DEFAULTS.fileTtlMs),
    windowLines: envInt(env, 'FABRIC_BATCH_WINDOW', BATCH_DEFAULTS.windowLines, 1),
    lineJobTtlMs: envDurationMs(env, 'FABRIC_BATCH_JOB_TTL', BATCH_DEFAULTS.lineJobTtlMs),
  };
}
