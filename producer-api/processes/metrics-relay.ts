/**
 * The API process's side of `/metrics` with several API processes (primary.ts): the process that
 * takes a scrape asks the primary, which sums every process's registry. Installed explicitly at
 * start (`installMetricsRelay`), never as a side effect of an import.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { registry } from '../../protocol/metrics.ts';

export const METRICS_REQ = 'fabric:metrics-req';
export const METRICS_RES = 'fabric:metrics-res';

export interface MetricsMessage {
  type: string;
  id: number;
  text?: string;
  error?: string;
}

let nextId = 0;
let installed = false;
const waiting = new Map<number, (m: MetricsMessage) => void>();

/** In one of several API processes: answers the primary's aggregator and takes its replies. Idempotent; nothing in a lone process. */
export function installMetricsRelay(): void {
  if (installed || !cluster.isWorker) return;
  installed = true;
  // The primary's aggregator asks each process for its registry's metrics; constructing one
  // here is what installs prom-client's responder.
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry();
  process.on('message', (m: MetricsMessage) => {
    if (m?.type === METRICS_RES) waiting.get(m.id)?.(m);
  });
}

/** This process's metrics, or with several API processes every process's, summed. */
export async function metricsText(): Promise<string> {
  if (!cluster.isWorker || !process.send) return registry.metrics();
  const id = nextId++;
  const reply = await new Promise<MetricsMessage>((resolve) => {
    const timer = setTimeout(() => resolve({ type: METRICS_RES, id, error: 'the primary did not answer within 5 s' }), 5_000);
    waiting.set(id, (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    process.send!({ type: METRICS_REQ, id });
  });
  waiting.delete(id);
  // Without the primary's answer this process's own metrics are better than none.
  return reply.text ?? registry.metrics();
}

/** Whether this process is one of several API processes (scrape-time gauges must then be cleared after a scrape). */
export const isOneOfSeveralApiProcesses = (): boolean => cluster.isWorker;
