/**
 * Retry and circuit-breaker policies, built on cockatiel 4. Cockatiel runs in browsers and Node
 * alike and has no dependencies.
 */
import {
  BrokenCircuitError,
  CircuitBreakerPolicy,
  ConsecutiveBreaker,
  CountBreaker,
  ExponentialBackoff,
  circuitBreaker,
  fullJitterGenerator,
  handleWhen,
  retry,
  type CircuitState,
  type IBackoff,
  type IBackoffFactory,
  type IBreaker,
  type IRetryBackoffContext,
  type RetryPolicy,
} from 'cockatiel';
import { FabricError } from './fabric-error.ts';
import type { BreakerOptions, RetryOptions } from './options.ts';

/** Opens when either breaker would: N failures in a row, or a failure rate over the last calls. */
class EitherBreaker implements IBreaker {
  private readonly a: IBreaker;
  private readonly b: IBreaker;
  constructor(
    a: IBreaker,
    b: IBreaker,
  ) {
    this.a = a;
    this.b = b;
  }
  get state(): unknown {
    return { a: this.a.state, b: this.b.state };
  }
  set state(v: unknown) {
    const s = v as { a: unknown; b: unknown };
    this.a.state = s.a;
    this.b.state = s.b;
  }
  success(state: CircuitState): void {
    this.a.success(state);
    this.b.success(state);
  }
  failure(state: CircuitState): boolean {
    const a = this.a.failure(state);
    const b = this.b.failure(state);
    return a || b;
  }
}

/** Failures that say the API itself is unwell (not one model's overload, not bad input). */
export function isBreakerFailure(err: unknown): boolean {
  if (!(err instanceof FabricError)) return false;
  if (err.code === 'connection_error' || err.code === 'timeout') return true;
  return err.status !== null && err.status >= 500 && err.code !== 'backlog_full';
}

/** A circuit breaker that remembers when it opened, to tell callers how long it stays open. */
export class Breaker {
  private readonly policy: CircuitBreakerPolicy;
  private openedAt = 0;

  private readonly opts: BreakerOptions;
  constructor(opts: BreakerOptions) {
    this.opts = opts;
    this.policy = circuitBreaker(handleWhen(isBreakerFailure), {
      halfOpenAfter: opts.halfOpenAfterMs,
      breaker: new EitherBreaker(
        new ConsecutiveBreaker(opts.consecutiveFailures),
        new CountBreaker({ threshold: opts.failureRate, size: opts.windowSize, minimumNumberOfCalls: opts.minimumCalls }),
      ),
    });
    this.policy.onBreak(() => (this.openedAt = Date.now()));
  }

  /** `'closed' | 'open' | 'half-open'` (for logs and tests). */
  get state(): 'closed' | 'open' | 'half-open' {
    return (['closed', 'open', 'half-open', 'open'] as const)[this.policy.state] ?? 'closed';
  }

  async execute<T>(fn: () => Promise<T>, baseUrl: string): Promise<T> {
    try {
      return await this.policy.execute(fn);
    } catch (err) {
      if (err instanceof BrokenCircuitError) {
        const retryAfterMs = Math.max(0, this.opts.halfOpenAfterMs - (Date.now() - this.openedAt));
        throw new FabricError({
          status: null,
          code: 'circuit_open',
          message: `circuit open for ${baseUrl} after repeated failures; failing fast for another ${retryAfterMs} ms`,
          retryable: true,
          retryAfterMs,
          cause: err,
        });
      }
      throw err;
    }
  }
}

const breakers = new Map<string, Breaker>();

/**
 * The breaker for a base URL: clients made for the same URL with the same settings share it,
 * so a program that makes a client per request is still protected.
 */
export function breakerFor(baseUrl: string, opts: BreakerOptions): Breaker {
  const key = `${baseUrl} ${JSON.stringify(opts)}`;
  let b = breakers.get(key);
  if (!b) breakers.set(key, (b = new Breaker(opts)));
  return b;
}

/**
 * Exponential backoff with full jitter, except that a server's (or the open circuit's)
 * `retryAfterMs` wins, capped at `maxRetryAfterMs`.
 */
class HintedBackoff implements IBackoffFactory<IRetryBackoffContext<unknown>> {
  private readonly exp: IBackoffFactory<unknown>;
  private readonly capMs: number;
  constructor(
    exp: IBackoffFactory<unknown>,
    capMs: number,
  ) {
    this.exp = exp;
    this.capMs = capMs;
  }
  next(ctx: IRetryBackoffContext<unknown>): IBackoff<IRetryBackoffContext<unknown>> {
    const step = this.exp.next(ctx) as IBackoff<unknown>;
    const error = 'error' in ctx.result ? ctx.result.error : undefined;
    const hint = error instanceof FabricError ? error.retryAfterMs : null;
    const duration = hint !== null ? Math.min(hint, this.capMs) : step.duration;
    const capMs = this.capMs;
    return { duration, next: (c) => new HintedBackoff(step, capMs).next(c) };
  }
}

/** A retry policy for `maxRetries` retries of the errors `shouldRetry` accepts. */
export function retryPolicy(opts: RetryOptions, maxRetries: number, shouldRetry: (err: FabricError) => boolean): RetryPolicy {
  const exp = new ExponentialBackoff({ initialDelay: opts.initialDelayMs, maxDelay: opts.maxDelayMs, generator: fullJitterGenerator });
  return retry(
    handleWhen((e) => e instanceof FabricError && shouldRetry(e)),
    { maxAttempts: maxRetries, backoff: new HintedBackoff(exp, opts.maxRetryAfterMs) },
  );
}
