/**
 * Entry of the bench's client thread: the HTTP load generator on its own event loop, so the
 * fabric's event loop (API + worker, main thread) is not also paying for the client. Tasks
 * arrive as messages `{id, task}` and are answered `{id, result}` or `{id, error}`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { JsonClient } from './http-client.ts';
import { submitJobs, syncRunOpenLoop } from './load-ops.ts';

export type ClientTask =
  | { kind: 'sync-open-loop'; ratePerSec: number; durationMs: number }
  | { kind: 'submit'; count: number; lanes: number }
  | { kind: 'close' };

export interface ClientThreadData {
  url: string;
  connections: number;
}

async function handle(client: JsonClient, task: ClientTask): Promise<unknown> {
  switch (task.kind) {
    case 'sync-open-loop':
      return syncRunOpenLoop(client, task);
    case 'submit':
      return submitJobs(client, task.count, task.lanes);
    case 'close':
      await client.close();
      return null;
  }
}

if (parentPort) {
  const port = parentPort;
  const data = workerData as ClientThreadData;
  const client = new JsonClient(data.url, data.connections);
  port.on('message', (msg: { id: number; task: ClientTask }) => {
    handle(client, msg.task).then(
      (result) => port.postMessage({ id: msg.id, result }),
      (err: unknown) => port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) }),
    );
  });
}
