/** The client's one options type; defaults live in `CLIENT_DEFAULTS` and are merged in `resolveOptions`. */

export interface RetryOptions {
  /** First backoff delay; each retry doubles it (full jitter: a random delay in [0, delay)). */
  initialDelayMs: number;
  /** Upper bound of one backoff delay. */
  maxDelayMs: number;
  /** Upper bound when honouring the server's `Retry-After` / `retry-after-ms`. */
  maxRetryAfterMs: number;
}

export interface BreakerOptions {
  /** Open after this many failures in a row. */
  consecutiveFailures: number;
  /** ...or when more than this share of the last `windowSize` calls failed (between 0 and 1)... */
  failureRate: number;
  windowSize: number;
  /** ...once at least this many calls are in the window. */
  minimumCalls: number;
  /** How long the circuit stays open before one probe call may test the API. */
  halfOpenAfterMs: number;
}

export interface StreamOptions {
  /** Reconnections of `jobs.events()` in a row without receiving an event before giving up. */
  maxReconnects: number;
  /** A stream silent for this long is treated as broken and resumed (the API sends a keep-alive every 15 s). */
  idleTimeoutMs: number;
}

export interface FabricClientOptions {
  /** The API's base URL, e.g. `http://localhost:8080`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; omit when the API runs without keys. */
  apiKey?: string | null;
  /** Per attempt, until the answer is read (long-polls add their wait to it). */
  timeoutMs?: number;
  /** Retries after the first attempt for retryable failures. */
  maxRetries?: number;
  retry?: Partial<RetryOptions>;
  /** Circuit breaker settings, or `false` to run without one. */
  breaker?: Partial<BreakerOptions> | false;
  stream?: Partial<StreamOptions>;
  /** Longest single long-poll of `jobs.wait()` (the API caps it too). */
  pollWaitSec?: number;
  /** A fetch implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface ResolvedOptions {
  baseUrl: string;
  apiKey: string | null;
  timeoutMs: number;
  maxRetries: number;
  retry: RetryOptions;
  breaker: BreakerOptions | false;
  stream: StreamOptions;
  pollWaitSec: number;
  fetch: typeof fetch;
  headers: Record<string, string>;
}

export const CLIENT_DEFAULTS = {
  timeoutMs: 60_000,
  maxRetries: 2,
  retry: { initialDelayMs: 250, maxDelayMs: 8_000, maxRetryAfterMs: 60_000 } satisfies RetryOptions,
  breaker: { consecutiveFailures: 5, failureRate: 0.5, windowSize: 20, minimumCalls: 10, halfOpenAfterMs: 5_000 } satisfies BreakerOptions,
  stream: { maxReconnects: 20, idleTimeoutMs: 45_000 } satisfies StreamOptions,
  pollWaitSec: 30,
} as const;

function check(ok: boolean, what: string): void {
  if (!ok) throw new TypeError(`FabricClient: ${what}`);
}

const nonNegative = (n: number) => Number.isFinite(n) && n >= 0;

/** Merges defaults and validates up front, so a bad option fails at construction, not mid-call. */
export function resolveOptions(o: FabricClientOptions): ResolvedOptions {
  check(typeof o?.baseUrl === 'string' && /^https?:\/\//.test(o.baseUrl), 'baseUrl must be an http(s) URL');
  const fetchImpl = o.fetch ?? globalThis.fetch;
  check(typeof fetchImpl === 'function', 'no fetch: pass options.fetch on a runtime without a global fetch');
  const r: ResolvedOptions = {
    baseUrl: o.baseUrl.replace(/\/+$/, ''),
    apiKey: o.apiKey ?? null,
    timeoutMs: o.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs,
    maxRetries: o.maxRetries ?? CLIENT_DEFAULTS.maxRetries,
    retry: { ...CLIENT_DEFAULTS.retry, ...o.retry },
    breaker: o.breaker === false ? false : { ...CLIENT_DEFAULTS.breaker, ...o.breaker },
    stream: { ...CLIENT_DEFAULTS.stream, ...o.stream },
    pollWaitSec: o.pollWaitSec ?? CLIENT_DEFAULTS.pollWaitSec,
    // Bound to globalThis: some runtimes throw "Illegal invocation" for an unbound fetch.
    fetch: o.fetch ?? globalThis.fetch.bind(globalThis),
    headers: { ...o.headers },
  };
  check(r.timeoutMs > 0, 'timeoutMs must be > 0');
  check(Number.isInteger(r.maxRetries) && r.maxRetries >= 0, 'maxRetries must be an integer >= 0');
  check(nonNegative(r.retry.initialDelayMs) && r.retry.maxDelayMs >= r.retry.initialDelayMs, 'retry delays must be >= 0 and maxDelayMs >= initialDelayMs');
  check(nonNegative(r.retry.maxRetryAfterMs), 'retry.maxRetryAfterMs must be >= 0');
  if (r.breaker) {
    const b = r.breaker;
    check(Number.isInteger(b.consecutiveFailures) && b.consecutiveFailures >= 1, 'breaker.consecutiveFailures must be an integer >= 1');
    check(b.failureRate > 0 && b.failureRate < 1, 'breaker.failureRate must be between 0 and 1 (exclusive)');
    check(Number.isInteger(b.windowSize) && Number.isInteger(b.minimumCalls) && b.minimumCalls >= 1 && b.minimumCalls <= b.windowSize, 'breaker.minimumCalls must be an integer from 1 to windowSize');
    check(nonNegative(b.halfOpenAfterMs), 'breaker.halfOpenAfterMs must be >= 0');
  }
  check(Number.isInteger(r.stream.maxReconnects) && r.stream.maxReconnects >= 0, 'stream.maxReconnects must be an integer >= 0');
  check(r.stream.idleTimeoutMs > 0, 'stream.idleTimeoutMs must be > 0');
  check(Number.isInteger(r.pollWaitSec) && r.pollWaitSec >= 1, 'pollWaitSec must be an integer >= 1');
  return r;
}
