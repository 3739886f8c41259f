/** The API's Prometheus metrics (on the process registry, protocol/metrics.ts). */
import { Counter, Gauge, Histogram } from 'prom-client';
import { LATENCY_BUCKETS, jobsFinished, registry } from '../../protocol/metrics.ts';

/** The label value for anything not known to the fabric (an invented model name), so label sets stay bounded. */
export const UNKNOWN_LABEL = 'unknown';

export const metrics = {
  jobsFinished,
  jobsSubmitted: new Counter({
    name: 'fabric_jobs_submitted_total',
    help: 'Jobs accepted into a model queue',
    labelNames: ['model', 'task'] as const,
    registers: [registry],
  }),
  jobsRejected: new Counter({
    name: 'fabric_jobs_rejected_total',
    help: 'Submissions refused, by reason (backlog, unknown_model, invalid, quota)',
    labelNames: ['model', 'reason'] as const,
    registers: [registry],
  }),
  queueDepth: new Gauge({
    name: 'fabric_queue_depth',
    help: 'Jobs per model queue and state (waiting, active, delayed)',
    labelNames: ['model', 'state'] as const,
    registers: [registry],
  }),
  workersAlive: new Gauge({
    name: 'fabric_workers_alive',
    help: 'Workers with a live heartbeat, as seen by the API',
    registers: [registry],
  }),
  webhookDeliveries: new Counter({
    name: 'fabric_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: delivered, retry (will be tried again) or failed (for good)',
    labelNames: ['event', 'outcome'] as const,
    registers: [registry],
  }),
  modelReplicas: new Gauge({
    name: 'fabric_model_replicas',
    help: 'Workers on which a model is resident, as seen by the API',
    labelNames: ['model'] as const,
    registers: [registry],
  }),
  httpRequests: new Counter({
    name: 'fabric_http_requests_total',
    help: 'HTTP requests served by the API',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  }),
  httpDuration: new Histogram({
    name: 'fabric_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
};
