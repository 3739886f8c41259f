/**
 * Builds the API apart from `listen()`, so tests call it in-process. Wires the real ports
 * (Redis, BullMQ queues, webhooks) in one place.
 */
import express, { type Express } from 'express';
import { duplicateClient, type RedisClient } from '../store/redis-client.ts';
import { JobStore } from '../store/job-store.ts';
import type { Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import { createStatusNotifier } from '../store/status-notifier.ts';
import { WebhookDispatcher } from '../store/webhook-enqueue.ts';
import { createBatchApi, type BatchApi } from './batch/batch-api.ts';
import type { BatchOptions } from './batch/options.ts';
import { FleetView } from './fleet/fleet-view.ts';
import { ArrivalBatcher } from './jobs/arrival-batcher.ts';
import { EventHub } from './jobs/event-hub.ts';
import { ExpirySweeper } from './jobs/expiry-sweeper.ts';
import { JobService } from './jobs/job-service.ts';
import { adminAuth, tenantAuth } from './middleware/auth.ts';
import { errorHandler, notFoundRoute } from './middleware/error-handler.ts';
import { jsonBody } from './middleware/json-body.ts';
import { requestContext } from './middleware/request-context.ts';
import { authThenLimit, tenantRateLimit } from './tenants/rate-limit.ts';
import { clearTenantMetrics, collectTenantMetrics, knownTenants, tenantCounts, usageRoutes } from './tenants/usage.ts';
import { ModelQueues } from './jobs/model-queues.ts';
import type { ApiOptions } from './settings/options.ts';
import { anthropicErrorHandler } from './anthropic/errors.ts';
import { anthropicRoutes } from './anthropic/routes.ts';
import { responsesApi } from './responses/routes.ts';
import { ResponseStore } from '../store/response-store.ts';
import { isOpenAiPath, isUnknownV1Route, openAiErrorHandler } from './openai/errors.ts';
import { openAiModelRoutes } from './openai/model-routes.ts';
import { openAiRoutes } from './openai/routes.ts';
import { adminRoutes } from './routes/admin.ts';
import { clusterViewRoutes } from './routes/cluster-view-page.ts';
import { jobEventRoutes } from './routes/job-events.ts';
import { jobRoutes } from './routes/jobs.ts';
import { modelRoutes } from './routes/models.ts';
import { ollamaRoutes } from './ollama/routes.ts';
import { ollamaCompatRoutes } from './ollama/compat-routes.ts';
import { modelAdminRoutes } from './ollama/model-admin-routes.ts';
import { systemRoutes } from './routes/system.ts';
import { checkWebhookUrl, parseAllowList } from './webhooks/ssrf-guard.ts';

export interface Api {
  app: Express;
  jobs: JobService;
  sweeper: ExpirySweeper;
  store: JobStore;
  dispatcher: WebhookDispatcher;
  batch: BatchApi;
  /** Resolves once the API listens to job events; await before serving. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `redis` serves request handlers (with the `requests` role it fails fast while Redis is away);
 * `background`, when given, serves what should wait out an outage instead (the events
 * subscriber, the expiry sweeper). Tests may pass one connection for both.
 */
export function createApi(opts: ApiOptions, d: { redis: RedisClient; background?: RedisClient; keys: Keys; log: Logger; resultTtlSec?: number; batch?: Partial<BatchOptions> }): Api {
  const { redis, keys, log } = d;
  const background = d.background ?? redis;
  const store = new JobStore(redis, keys, d.resultTtlSec ? { resultTtlSec: d.resultTtlSec } : {});
  const fleet = new FleetView(redis, keys);
  const hub = new EventHub(duplicateClient(background), keys);
  const queues = new ModelQueues(redis, keys);
  const dispatcher = new WebhookDispatcher({ connection: redis, keys, logger: log });
  const allowList = parseAllowList(opts.webhookAllowList);
  const webhookUrlCheck = async (url: string) => {
    const r = await checkWebhookUrl(url, allowList);
    return r.ok ? null : r.reason;
  };
  const arrivals = new ArrivalBatcher(redis, keys, log);
  const jobs = new JobService({
    redis,
    keys,
    store,
    queues,
    fleet,
    hub,
    arrivals,
    opts,
    log,
    onStatus: createStatusNotifier({ store, dispatcher, log }),
    checkWebhookUrl: webhookUrlCheck,
  });
  const sweeper = new ExpirySweeper({ redis: background, keys, jobs, log }, { intervalMs: opts.expirySweepMs, batch: 500 });
  const admin = adminAuth(opts);
  const tenant = authThenLimit(tenantAuth(opts), tenantRateLimit({ ledger: store.ledger, limits: opts.tenantLimits }));
  const batch = createBatchApi({ redis, keys, log, bridge: { jobs, store, hub }, fleet, dispatcher, tenant, checkWebhookUrl: webhookUrlCheck, tenantLimits: opts.tenantLimits }, d.batch);

  const app = express();
  app.disable('x-powered-by');
  // No ETag on JSON answers: hashing every body cost ~3% of the API's CPU per job, and job
  // state changes are followed by long-poll or events, not conditional GETs.
  app.set('etag', false);
  app.use(requestContext({ log }));
  app.use(systemRoutes({ redis, fleet, queues, metricsKey: opts.metricsKey, onScrape: () => collectTenantMetrics(store.ledger, opts.tenantLimits), afterScrape: clearTenantMetrics }));
  app.use(adminRoutes({ admin, fleet, queues, extraQueues: [dispatcher.queue] }));
  const tenantNames = knownTenants(opts.tenantLimits, opts.apiKeys);
  app.use(clusterViewRoutes({ admin, fleet, queues, redis, keys, tenantCounts: () => tenantCounts(store.ledger, tenantNames) }));
  app.use(batch.upload);
  app.use('/api', ...jsonBody({ limitBytes: opts.bodyLimitBytes, requireContentType: false }));
  app.use('/v1', ...jsonBody({ limitBytes: opts.bodyLimitBytes, requireContentType: true }));
  // Operator routes carry their own (admin) auth, so they sit before the tenant check.
  app.use(modelRoutes({ fleet, queues, redis, keys, admin, tenant }));
  app.use(modelAdminRoutes({ jobs, fleet, redis, keys, admin }));
  app.use(['/v1', '/api'], tenant);
  app.use(usageRoutes({ ledger: store.ledger, limits: opts.tenantLimits, apiKeys: opts.apiKeys }));
  app.use(jobRoutes({ jobs, opts, redis, keys }));
  app.use(jobEventRoutes({ jobs, store, hub }));
  app.use(ollamaRoutes({ jobs, store, hub, fleet, opts }));
  app.use(ollamaCompatRoutes({ jobs, opts }));
  app.use(openAiRoutes({ jobs, store, hub, opts }));
  app.use(openAiModelRoutes({ fleet, queues }));
  app.use(anthropicRoutes({ jobs, store, hub, fleet, opts }));
  const responses = responsesApi({ jobs, store, hub, responses: new ResponseStore(redis, keys, { ttlSec: opts.responseTtlSec }), log, opts });
  app.use(responses.routes);
  app.use(batch.routes);
  app.use(notFoundRoute());
  app.use(anthropicErrorHandler({ log }));
  app.use(openAiErrorHandler({ log, matches: (req, err) => isOpenAiPath(req.path) || (req.method === 'GET' && req.path.startsWith('/v1/models/')) || isUnknownV1Route(req.path, err) }));
  app.use(errorHandler({ log, ollamaStyle: (path) => path.startsWith('/api/') }));

  let closing: Promise<void> | null = null;
  return {
    app,
    jobs,
    sweeper,
    store,
    dispatcher,
    batch,
    async ready() {
      await hub.start();
      sweeper.start();
      batch.start();
    },
    close() {
      closing ??= (async () => {
        for (const step of [() => responses.close(), () => batch.close(), () => sweeper.close(), () => hub.close(), () => arrivals.flush(), () => queues.close(), () => dispatcher.close()]) {
          try {
            await step();
          } catch (err) {
            log.warn({ err }, 'API close step failed');
          }
        }
      })();
      return closing;
    },
  };
}
