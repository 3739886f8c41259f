/**
 * The HTTP load generator, run either in the bench's main thread (sharing the fabric's event
 * loop, as a client in the same process would) or in a worker thread of its own (the default:
 * the fabric's event loop then carries only API + worker work, as in a deployment).
 */
import { Worker } from 'node:worker_threads';
import type { ClientTask, ClientThreadData } from './client-thread.ts';
import { JsonClient } from './http-client.ts';
import { submitJobs, syncRunOpenLoop, type SubmitOutcome } from './load-ops.ts';
import type { OpenLoopResult } from './open-loop.ts';

export type ClientMode = 'thread' | 'inline';

export interface LoadClient {
  syncOpenLoop(o: { ratePerSec: number; durationMs: number }): Promise<OpenLoopResult>;
  submit(count: number, lanes: number): Promise<SubmitOutcome>;
  close(): Promise<void>;
}

export function startLoadClient(mode: ClientMode, url: string, connections: number): Promise<LoadClient> {
  return mode === 'thread' ? threadClient(url, connections) : Promise.resolve(inlineClient(url, connections));
}

function inlineClient(url: string, connections: number): LoadClient {
  const client = new JsonClient(url, connections);
  return {
    syncOpenLoop: (o) => syncRunOpenLoop(client, o),
    submit: (count, lanes) => submitJobs(client, count, lanes),
    close: () => client.close(),
  };
}

async function threadClient(url: string, connections: number): Promise<LoadClient> {
  // Node strips the thread's TypeScript as it does the main thread's.
  const data: ClientThreadData = { url, connections };
  const worker = new Worker(new URL('./client-thread.ts', import.meta.url), { workerData: data });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let failed: Error | null = null;
  const failAll = (err: Error) => {
    failed = err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('message', (msg: { id: number; result?: unknown; error?: string }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error !== undefined) p.reject(new Error(`client thread: ${msg.error}`));
    else p.resolve(msg.result);
  });
  worker.on('error', (err) => failAll(err));
  worker.on('exit', (code) => failAll(new Error(`client thread exited with code ${code}`)));
  const call = <T>(task: ClientTask): Promise<T> => {
    if (failed) return Promise.reject(failed);
    const id = ++nextId;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, task });
    });
  };
  return {
    syncOpenLoop: (o) => call<OpenLoopResult>({ kind: 'sync-open-loop', ...o }),
    submit: (count, lanes) => call<SubmitOutcome>({ kind: 'submit', count, lanes }),
    async close() {
      await call({ kind: 'close' }).catch(() => undefined);
      await worker.terminate();
    },
  };
}
