/** Abort helpers that work on every runtime with AbortController (no AbortSignal.any needed). */
import { FabricError } from './fabric-error.ts';

export function abortedError(jobId?: string): FabricError {
  return new FabricError({ status: null, code: 'aborted', message: 'the request was aborted by its AbortSignal', retryable: false, jobId });
}

/** Rejects as soon as `signal` aborts, whatever `work` is still doing. */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, jobId?: string): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortedError(jobId));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(jobId));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Waits `ms`, or rejects with an `aborted` FabricError when `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return raceAbort(new Promise<void>((r) => setTimeout(r, ms)), signal);
}

/**
 * A controller that aborts when `parent` does; `release()` detaches it. The abort reaches the
 * child one macrotask later: tearing down an in-flight fetch runs synchronously inside
 * `abort()` (undici: ~25 ms measured under the test runner), and the caller's promise, raced
 * with `parent` (raceAbort), should reject without waiting for it.
 */
export function childController(parent: AbortSignal | undefined): { controller: AbortController; release: () => void } {
  const controller = new AbortController();
  if (!parent) return { controller, release: () => undefined };
  const onAbort = () => void setTimeout(() => controller.abort(parent.reason), 0);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', onAbort, { once: true });
  return { controller, release: () => parent.removeEventListener('abort', onAbort) };
}
