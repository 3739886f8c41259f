/**
 * Ollama's answers mapped onto the fabric's error kinds. Ollama reports failures as
 * `{"error": "..."}` bodies (or lines, mid-stream) whose status and wording carry the kind;
 * one table here decides, so the worker can tell "retry later" from "never".
 */
import { EngineError, type EngineErrorCode } from '../../../protocol/errors.ts';

interface Rule {
  code: EngineErrorCode;
  test: (status: number | null, message: string) => boolean;
}

/** A CUDA/Metal allocation failure or Ollama's own memory check; another GPU may fit it. */
const OOM_RE =
  /out of memory|cudaMalloc failed|requires more system memory|insufficient memory|unable to allocate|failed to allocate|not enough memory/i;
const BUSY_RE = /server busy|maximum pending requests/i;
const NOT_FOUND_RE = /not found|file does not exist|no such model/i;
/** Nothing answered: the server is down, restarting, or unreachable. */
const UNREACHABLE_RE = /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|EPIPE|connection refused|fetch failed|socket hang up|other side closed/i;

/** First match wins; the order matters where a message could match two rules. */
const RULES: Rule[] = [
  { code: 'engine_unavailable', test: (s) => s === null },
  { code: 'out_of_memory', test: (_s, m) => OOM_RE.test(m) },
  { code: 'engine_busy', test: (s, m) => s === 503 || BUSY_RE.test(m) },
  { code: 'model_not_found', test: (s, m) => s === 404 || NOT_FOUND_RE.test(m) },
  { code: 'engine_unavailable', test: (_s, m) => UNREACHABLE_RE.test(m) },
  { code: 'invalid_request', test: (s) => s !== null && s >= 400 && s < 500 },
];

/**
 * The fabric's error for an Ollama failure. `status` is the HTTP status, or `null` when no
 * answer came back (connection refused, reset); a mid-stream `{"error"}` line passes the
 * stream's 200, so only its message decides.
 */
export function mapOllamaError(status: number | null, message: string): EngineError {
  const code = RULES.find((r) => r.test(status, message))?.code ?? 'engine_error';
  const where = status === null ? 'ollama unreachable' : `ollama ${status}`;
  return new EngineError(code, `${where}: ${message}`);
}

/** A thrown fetch failure (abort, timeout, network) as an EngineError, keeping the cause. */
export function transportError(err: unknown, context: string, callerSignal?: AbortSignal): EngineError {
  if (err instanceof EngineError) return err;
  if (callerSignal?.aborted) return new EngineError('aborted', `${context}: aborted`, { cause: err });
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new EngineError('engine_unavailable', `${context}: ollama did not answer in time`, { cause: err });
  }
  const detail = [e?.message, e?.cause?.message ?? e?.cause?.code].filter(Boolean).join(': ') || String(err);
  const mapped = mapOllamaError(null, detail);
  return new EngineError(mapped.code, `${context}: ${mapped.message}`, { cause: err });
}
