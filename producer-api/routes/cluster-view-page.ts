/**
 * The cluster view at `/admin/cluster` (behind the admin key): a static page and script
 * (producer-api/assets/cluster-view.{html,js}) that poll the fleet every 2 s and draw each worker
 * (and GPU) as a bar of its memory, resident models as segments to scale, loading models hatched,
 * a table of models with their queues and replicas, and the scheduler's recent decisions.
 *
 * The script polls `/admin/cluster/models`, which answers exactly what `GET /v1/models` does
 * (the same handler, mounted again) but behind the admin key: an operator's browser holds the
 * admin key, which is not a tenant key, so it could not read `/v1/models` when tenants are set.
 * Decisions come from the scheduler's capped decision stream (protocol/decisions.ts); tenants'
 * waiting/running counts from the tenant ledger. The script builds every URL from
 * `location.origin`, so the page also works when opened as `http://admin:key@host/admin/cluster`.
 * The assets name these paths literally: keep them in step with CLUSTER_VIEW_PATH.
 */
import { readFileSync } from 'node:fs';
import { Router, type RequestHandler } from 'express';
import type { RedisClient } from '../../store/redis-client.ts';
import { readDecisions } from '../../store/decision-stream.ts';
import type { Keys } from '../../protocol/keys.ts';
import type { FleetView } from '../fleet/fleet-view.ts';
import type { ModelQueues } from '../jobs/model-queues.ts';
import { modelRoutes } from './models.ts';

export const CLUSTER_VIEW_PATH = '/admin/cluster';

// Read once at start, so a missing asset fails the start rather than the first page view.
const PAGE_HTML = readFileSync(new URL('../assets/cluster-view.html', import.meta.url), 'utf8');
const PAGE_SCRIPT = readFileSync(new URL('../assets/cluster-view.js', import.meta.url), 'utf8');

export interface ClusterViewPageDeps {
  admin: RequestHandler;
  fleet: FleetView;
  queues: ModelQueues;
  redis: RedisClient;
  keys: Keys;
  /** Waiting/running counts per tenant, for the tenants table. */
  tenantCounts: () => Promise<{ tenant: string; waiting: number; running: number }[]>;
}

export function clusterViewRoutes(d: ClusterViewPageDeps): Router {
  // The admin check runs first, so the models router's tenant check is not needed here.
  const pass: RequestHandler = (_req, _res, next) => next();
  const models = modelRoutes({ ...d, tenant: pass });
  const r = Router();
  r.get(`${CLUSTER_VIEW_PATH}/models`, d.admin, (req, res, next) => {
    req.url = '/v1/models';
    models(req, res, next);
  });
  // The scheduler's recent actions with their reasons, newest first.
  r.get(`${CLUSTER_VIEW_PATH}/decisions`, d.admin, async (_req, res) => {
    const data = await readDecisions(d.redis, d.keys, 30);
    res.set('cache-control', 'no-store').json({ data });
  });
  r.get(`${CLUSTER_VIEW_PATH}/tenants`, d.admin, async (_req, res) => {
    res.set('cache-control', 'no-store').json({ data: await d.tenantCounts() });
  });
  r.get(CLUSTER_VIEW_PATH, d.admin, (_req, res) => {
    res.set('cache-control', 'no-store').type('html').send(PAGE_HTML);
  });
  r.get(`${CLUSTER_VIEW_PATH}/cluster-view.js`, d.admin, (_req, res) => {
    res.set('cache-control', 'no-store').type('js').send(PAGE_SCRIPT);
  });
  return r;
}
