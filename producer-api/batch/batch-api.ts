/** Wires the Batch API: stores, the runner and the routes, from the API's real ports. */
import type { RequestHandler, Router } from 'express';
import type { RedisClient } from '../../store/redis-client.js';
import type { Keys } from '../../protocol/keys.js';
import type { Logger } from '../../protocol/logger.js';
import type { TenantLimits } from '../../protocol/tenant-limits.js';
import type { WebhookDispatcher } from '../../store/webhook-enqueue.js';
import type { FleetView } from '../fleet/fleet-view.js';
import type { BridgeDeps } from '../openai/job-bridge.js';
import { BatchBudget } from './batch-budget.js';
import { batchKeys } from './batch-keys.js';
import { BatchRunner } from './batch-runner.js';
import { BatchStore } from './batch-store.js';
import { batchWebhookNotifier } from './batch-webhooks.js';
import { FileStore } from './file-store.js';
import { batchOptions, type BatchOptions } from './options.js';
import { fileAndBatchRoutes, fileUploadRoutes } from './routes.js';

export interface BatchApi {
  /** Mounted before the JSON body parser (multipart upload). */
  upload: Router;
  routes: Router;
  runner: BatchRunner;
  start(): void;
  close(): Promise<void>;
}

export function createBatchApi(
  d: { redis: RedisClient; keys: Keys; log: Logger; bridge: BridgeDeps; fleet: FleetView; dispatcher: WebhookDispatcher; tenant: RequestHandler; checkWebhookUrl: (url: string) => Promise<string | null>; tenantLimits: TenantLimits },
  partial: Partial<BatchOptions> = {},
): BatchApi {
  const opts = batchOptions(partial);
  const bk = batchKeys(d.keys);
  const files = new FileStore(d.redis, bk, opts);
  const batches = new BatchStore(d.redis, bk, opts.fileTtlMs);
  const budget = new BatchBudget(d.bridge.store.ledger, d.tenantLimits, d.log);
  const runner = new BatchRunner({ redis: d.redis, keys: d.keys, bk, files, batches, bridge: d.bridge, fleet: d.fleet, budget, onFinished: batchWebhookNotifier(d), log: d.log }, opts);
  return {
    upload: fileUploadRoutes({ tenant: d.tenant, files, opts }),
    routes: fileAndBatchRoutes({ files, batches, runner, opts, checkWebhookUrl: d.checkWebhookUrl }),
    runner,
    start: () => runner.start(),
    close: () => runner.close(),
  };
}
