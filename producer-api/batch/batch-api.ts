/** Wires the Batch API: stores, the runner and the routes, from the API's real ports. */
import type { RequestHandler, Router } from 'express';
import type { RedisClient } from '../../store/redis-client.ts';
import type { Keys } from '../../protocol/keys.ts';
import type { Logger } from '../../protocol/logger.ts';
import type { TenantLimits } from '../../protocol/tenant-limits.ts';
import type { WebhookDispatcher } from '../../store/webhook-enqueue.ts';
import type { FleetView } from '../fleet/fleet-view.ts';
import type { BridgeDeps } from '../openai/job-bridge.ts';
import { BatchBudget } from './batch-budget.ts';
import { batchKeys } from './batch-keys.ts';
import { BatchRunner } from './batch-runner.ts';
import { BatchStore } from './batch-store.ts';
import { batchWebhookNotifier } from './batch-webhooks.ts';
import { FileStore } from './file-store.ts';
import { batchOptions, type BatchOptions } from './options.ts';
import { fileAndBatchRoutes, fileUploadRoutes } from './routes.ts';

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
