/**
 * Failure kinds, each saying whether a retry can help. Engines throw these; the worker is the
 * one place that decides to retry (BullMQ attempts) or to fail the job for good.
 */
export type EngineErrorCode =
  | 'model_not_found'
  | 'engine_busy'
  | 'out_of_memory'
  | 'insufficient_vram'
  /** A download does not fit the worker's disk cache beside the models in use. */
  | 'insufficient_disk'
  | 'engine_unavailable'
  | 'invalid_request'
  /** The prompt does not fit the model's context: the caller's input, never retried. */
  | 'context_length_exceeded'
  | 'aborted'
  | 'engine_error';

const RETRYABLE: Record<EngineErrorCode, boolean> = {
  model_not_found: false,
  engine_busy: true,
  out_of_memory: true,
  insufficient_vram: false,
  insufficient_disk: false,
  engine_unavailable: true,
  invalid_request: false,
  context_length_exceeded: false,
  aborted: false,
  engine_error: false,
};

/**
 * Job error codes that mean the request itself was at fault, found only at the worker, and the
 * HTTP status every route answers them with (the status a refusal at submit would have had).
 */
const CALLER_ERROR_STATUS = {
  context_length_exceeded: 400,
  invalid_request: 400,
  model_not_found: 404,
} as const;
export type CallerErrorCode = keyof typeof CALLER_ERROR_STATUS;

/** The 4xx a failed job's error code maps to when the caller's input was at fault; undefined otherwise. */
export function callerError(code: string | undefined): { status: 400 | 404; code: CallerErrorCode } | undefined {
  if (code === undefined || !Object.hasOwn(CALLER_ERROR_STATUS, code)) return undefined;
  return { status: CALLER_ERROR_STATUS[code as CallerErrorCode], code: code as CallerErrorCode };
}

export class EngineError extends Error {
  readonly retryable: boolean;
  readonly code: EngineErrorCode;
  constructor(
    code: EngineErrorCode,
    message: string,
    options?: { cause?: unknown; retryable?: boolean },
  ) {
    super(message, options);
    this.code = code;
    this.name = 'EngineError';
    this.retryable = options?.retryable ?? RETRYABLE[code];
  }
}

export function isAbortError(err: unknown): boolean {
  return (
    (err instanceof EngineError && err.code === 'aborted') ||
    (err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError'))
  );
}
