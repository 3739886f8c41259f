/** Starts one worker deployable (engine, node, webhooks producer, health/metrics server). */
import { createServer, type Server } from 'node:http';
import type { RedisClient } from '../store/redis-client.ts';
import { JobStore } from '../store/job-store.ts';
import type { Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import { registry } from '../protocol/metrics.ts';
import { listenError } from '../protocol/startup.ts';
import { createStatusNotifier } from '../store/status-notifier.ts';
import { WebhookDispatcher } from '../store/webhook-enqueue.ts';
import type { WorkerConfig } from './config.ts';
import { createEngine } from './engines/factory.ts';
import { createGpuReader, toGpuInfo } from './gpu/gpu-reader.ts';
import { WorkerNode } from './worker-node.ts';

export interface RunningWorker {
  node: WorkerNode;
  close(): Promise<void>;
}

export async function runWorker(cfg: WorkerConfig, d: { redis: RedisClient; keys: Keys; log: Logger; serveMetrics: boolean }): Promise<RunningWorker> {
  const { redis, keys, log } = d;
  const reader = await createGpuReader({ ...cfg.gpu, logger: log });
  const readGpus = async () => (await reader.read()).map(toGpuInfo);
  const hasGpus = reader.source !== 'none';
  const engine = await createEngine(cfg.engine, log, hasGpus ? readGpus : undefined, cfg.gpu.nvml?.libraryPath);
  const store = new JobStore(redis, keys);
  const dispatcher = new WebhookDispatcher({ connection: redis, keys, logger: log });
  const node = new WorkerNode(cfg.node, { engine, redis, keys, store, log, onStatus: createStatusNotifier({ store, dispatcher, log }), gpus: hasGpus ? { read: readGpus } : undefined });
  let server: Server | null = null;
  if (d.serveMetrics && cfg.metricsPort > 0) {
    server = createServer((req, res) => {
      if (req.url === '/metrics') {
        void registry.metrics().then((text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        });
      } else if (req.url === '/healthz') {
        res.writeHead(node.state === 'running' ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ state: node.state, worker: node.id }));
      } else {
        res.writeHead(404).end();
      }
    });
    const srv = server;
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(cfg.metricsPort, () => resolve())).catch(async (err: NodeJS.ErrnoException) => {
      for (const step of [() => engine.close(), () => reader.close(), () => dispatcher.close()]) await Promise.resolve().then(step).catch(() => undefined);
      throw listenError(err, 'worker metrics', '0.0.0.0', cfg.metricsPort, 'FABRIC_WORKER_PORT');
    });
  }
  await node.start();
  let closing: Promise<void> | null = null;
  return {
    node,
    close() {
      closing ??= (async () => {
        for (const step of [() => node.close(), () => engine.close(), () => reader.close(), () => dispatcher.close(), () => new Promise<void>((r) => (server ? server.close(() => r()) : r()))]) {
          try {
            await step();
          } catch (err) {
            log.warn({ err }, 'Worker close step failed');
          }
        }
      })();
      return closing;
    },
  };
}
