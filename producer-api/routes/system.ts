/** Liveness, readiness and Prometheus metrics. */
import { Router } from 'express';
import type { RedisClient } from '../../store/redis-client.ts';
import { registry } from '../../protocol/metrics.ts';
import { metrics } from '../settings/metrics.ts';
import { residentOn, type FleetView } from '../fleet/fleet-view.ts';
import type { ModelQueues } from '../jobs/model-queues.ts';
import { metricsAuth } from '../middleware/auth.ts';
import { isOneOfSeveralApiProcesses, metricsText } from '../processes/metrics-relay.ts';

/**
 * `onScrape` refreshes metrics read from Redis at scrape time, `afterScrape` clears them again:
 * with several API processes their metrics are summed, so only the one taking the scrape may
 * hold those values.
 */
export function systemRoutes(d: { redis: RedisClient; fleet: FleetView; queues: ModelQueues; metricsKey: string | null; onScrape?: () => Promise<void>; afterScrape?: () => void }): Router {
  const r = Router();
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  r.get('/readyz', async (_req, res) => {
    if (d.redis.status !== 'ready') {
      res.status(503).set('Retry-After', '2').json({ error: { code: 'not_ready', message: `redis: connection ${d.redis.status}` } });
      return;
    }
    try {
      await d.redis.ping();
      res.json({ status: 'ready', redis: 'ok' });
    } catch (err) {
      res.status(503).set('Retry-After', '2').json({ error: { code: 'not_ready', message: `redis: ${(err as Error).message}` } });
    }
  });

  r.get('/metrics', metricsAuth(d.metricsKey), async (_req, res) => {
    // Queue depths and live workers are read at scrape time, not kept up to date on every job.
    try {
      const snap = await d.fleet.snapshot(0);
      metrics.workersAlive.set(snap.workers.length);
      for (const model of snap.catalog.keys()) {
        metrics.modelReplicas.set({ model }, residentOn(snap, model).length);
        const c = await d.queues.counts(model);
        for (const state of ['waiting', 'active', 'delayed', 'failed'] as const) metrics.queueDepth.set({ model, state }, c[state]);
      }
      await d.onScrape?.();
    } catch {
      // Metrics still render from what is recorded if Redis is briefly unavailable.
    }
    let text: string;
    try {
      text = await metricsText();
    } finally {
      if (isOneOfSeveralApiProcesses()) {
        for (const m of [metrics.workersAlive, metrics.modelReplicas, metrics.queueDepth]) m.reset();
        d.afterScrape?.();
      }
    }
    res.setHeader('Content-Type', registry.contentType);
    res.send(text);
  });
  return r;
}
