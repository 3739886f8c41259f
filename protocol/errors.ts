/**
 * Failure kinds, each saying whether a retry can help. Engines throw these; the worker is the
 * one place that decides to retry (BullMQ attempts) or to fail the job for good.
 */
export type EngineErrorCode =
  | 'model_not_found'
  | 'engine_busy'
  | 'out_of_memory'
  | 'insufficient_vram'
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
  engine_unavailable: true,
  invalid_request: false,
  context_length_exceeded: false,
  aborted: false,
  engine_error: false,
};

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
