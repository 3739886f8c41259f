/**
 * An in-process fabric for tests: the real API (listening on a free port), real workers with
 * an engine of the test's choice, all against the run's private Redis in a fresh namespace.
 */
import { applyServerTimeouts, closeServer } from '../../producer-api/http/server-timeouts.ts';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Redis } from 'ioredis';
import type { RedisClient } from '../../store/redis-client.ts';
import { createApi, type Api } from '../../producer-api/app.ts';
import type { BatchOptions } from '../../producer-api/batch/options.ts';
import { apiOptions, type ApiOptions } from '../../producer-api/settings/options.ts';
import { WebhookDeliveryWorker } from '../../producer-api/webhooks/delivery-worker.ts';
import { parseAllowList } from '../../producer-api/webhooks/ssrf-guard.ts';
import { JobStore } from '../../store/job-store.ts';
import type { Keys } from '../../protocol/keys.ts';
import { createLogger } from '../../protocol/logger.ts';
import { createStatusNotifier } from '../../store/status-notifier.ts';
import { WebhookDispatcher } from '../../store/webhook-enqueue.ts';
import type { Engine } from '../../worker/engines/port/engine.ts';
import { FakeEngine, type FakeEngineOptions } from '../../worker/engines/fake-engine.ts';
import { workerOptions, type WorkerNodeOptions } from '../../worker/options.ts';
import { WorkerNode, type WorkerNodeDeps } from '../../worker/worker-node.ts';
import { redisUrl, testKeys } from './redis.ts';

export const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');

export const FAST_QUEUE = { lockDurationMs: 2_000, stalledIntervalMs: 1_000, backoffMs: 50 };

export interface TestFabric {
  url: string;
  keys: Keys;
  redis: RedisClient;
  api: Api;
  workers: WorkerNode[];
  addWorker(engine?: Engine | Partial<FakeEngineOptions>, opts?: Partial<WorkerNodeOptions>, deps?: Pick<WorkerNodeDeps, 'gpus'>): Promise<WorkerNode>;
  startWebhooks(secret: string): Promise<WebhookDeliveryWorker>;
  close(): Promise<void>;
}

/**
 * `conn`: another Redis to run on (a sentinel group, a cluster); the run's private server by
 * default. `conn.requests`, when given, serves the API's request handlers (`redis` the rest).
 */
export async function startFabric(partial: Partial<ApiOptions> = {}, batch: Partial<BatchOptions> = {}, conn?: { redis: RedisClient; keys: Keys; requests?: RedisClient }): Promise<TestFabric> {
  const keys = conn?.keys ?? testKeys();
  const redis: RedisClient = conn?.redis ?? new Redis(redisUrl(), { maxRetriesPerRequest: null });
  const opts = apiOptions({ webhookAllowList: '127.0.0.1/32', ...partial, queue: { ...apiOptions().queue, ...FAST_QUEUE, ...partial.queue } });
  const api = createApi(opts, { redis: conn?.requests ?? redis, background: redis, keys, log, batch: { tickMs: 100, ...batch } });
  await api.ready();
  const server: Server = await new Promise((resolve) => {
    const s = api.app.listen(0, '127.0.0.1', () => resolve(applyServerTimeouts(s)));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const workers: WorkerNode[] = [];
  const extra: { close(): Promise<void> }[] = [];
  let n = 0;

  return {
    url,
    keys,
    redis,
    api,
    workers,
    async addWorker(engine = {}, wopts = {}, extraDeps = {}) {
      const eng = 'generate' in engine ? (engine as Engine) : new FakeEngine(engine as Partial<FakeEngineOptions>);
      const store = new JobStore(redis, keys);
      const dispatcher = new WebhookDispatcher({ connection: redis, keys, logger: log });
      extra.push(dispatcher);
      const node = new WorkerNode(
        workerOptions({ workerId: `w${++n}-${keys.prefix}`, heartbeatIntervalMs: 200, residencyCheckMs: 500, drainTimeoutMs: 5_000, ...wopts, queue: { ...opts.queue, ...wopts.queue } }),
        { engine: eng, redis, keys, store, log, onStatus: createStatusNotifier({ store, dispatcher, log }), ...extraDeps },
      );
      await node.start();
      workers.push(node);
      extra.push({ close: () => eng.close() });
      return node;
    },
    async startWebhooks(secret: string) {
      const w = new WebhookDeliveryWorker({ connection: redis, keys, secret, allowList: parseAllowList('127.0.0.1/32'), logger: log, timeoutMs: 2_000 });
      extra.push(w);
      return w;
    },
    async close() {
      for (const w of workers) await w.close().catch(() => undefined);
      await closeServer(server, 500);
      await api.close();
      for (const e of extra.reverse()) await e.close().catch(() => undefined);
      redis.disconnect();
    },
  };
}

/** fetch + JSON, for brevity in tests. */
export async function call(url: string, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(url + path, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
  });
  const text = await res.text();
  let json: any = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
