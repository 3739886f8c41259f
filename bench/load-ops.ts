/**
 * What the HTTP load generator does, written once over a JsonClient so it runs the same in the
 * bench's main thread or in its client thread: fixed-rate `POST /v1/run` and a bounded-
 * concurrency burst of `POST /v1/jobs`.
 */
import type { JsonClient } from './http-client.ts';
import { runOpenLoop, type OpenLoopResult } from './open-loop.ts';
import { SUBMIT_JSON } from './workload.ts';

export interface SubmitOutcome {
  accepted: number;
  errors: number;
  firstError: string | null;
}

/** Runs `total` calls of `fn` with at most `lanes` in flight. */
export async function runLanes(total: number, lanes: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < total) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(lanes, total) }, lane));
}

/** `POST /v1/run` at a fixed rate; only a 200 carrying a `succeeded` job counts as done. */
export function syncRunOpenLoop(client: JsonClient, o: { ratePerSec: number; durationMs: number }): Promise<OpenLoopResult> {
  return runOpenLoop({
    ...o,
    op: async () => {
      const res = await client.post('/v1/run', SUBMIT_JSON);
      if (res.status !== 200) throw new Error(`POST /v1/run answered ${res.status}: ${res.body.slice(0, 200)}`);
      const status = (JSON.parse(res.body) as { status?: string }).status;
      if (status !== 'succeeded') throw new Error(`POST /v1/run returned a job in status ${status}`);
    },
  });
}

/** `count` × `POST /v1/jobs` with `lanes` requests in flight; a 202 counts as accepted. */
export async function submitJobs(client: JsonClient, count: number, lanes: number): Promise<SubmitOutcome> {
  let accepted = 0;
  let errors = 0;
  let firstError: string | null = null;
  await runLanes(count, lanes, async () => {
    try {
      const res = await client.post('/v1/jobs', SUBMIT_JSON);
      if (res.status === 202) accepted++;
      else {
        errors++;
        firstError ??= `HTTP ${res.status}: ${res.body.slice(0, 200)}`;
      }
    } catch (err) {
      errors++;
      firstError ??= (err as Error).message;
    }
  });
  return { accepted, errors, firstError };
}
