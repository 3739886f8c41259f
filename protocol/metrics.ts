/**
 * The fabric's Prometheus metrics, defined once. Each deployable records what it sees; in the
 * one-process start they share this registry, and each deployable's HTTP server exposes it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { registerFleetMetrics } from './fleet.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'fabric_process_' });
registerFleetMetrics(registry);

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export const metrics = {
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
  jobsFinished: new Counter({
    name: 'fabric_jobs_total',
    help: 'Jobs that reached a terminal status',
    labelNames: ['model', 'status'] as const,
    registers: [registry],
  }),
  queueDepth: new Gauge({
    name: 'fabric_queue_depth',
    help: 'Jobs per model queue and state (waiting, active, delayed)',
    labelNames: ['model', 'state'] as const,
    registers: [registry],
  }),
  queueWait: new Histogram({
    name: 'fabric_job_queue_wait_seconds',
    help: 'Time from submit to start of execution',
    labelNames: ['model'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  runTime: new Histogram({
    name: 'fabric_job_run_seconds',
    help: 'Execution time on the engine',
    labelNames: ['model', 'task'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),
  loadDuration: new Histogram({
    name: 'fabric_model_load_seconds',
    help: 'Model load duration on an engine',
    labelNames: ['model', 'engine'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
    registers: [registry],
  }),
  footprint: new Gauge({
    name: 'fabric_model_footprint_bytes',
    help: 'Memory a model takes on an engine: the ledger estimate before loading and the measured figure after',
    labelNames: ['model', 'engine', 'kind'] as const,
    registers: [registry],
  }),
  residentModels: new Gauge({
    name: 'fabric_resident_models',
    help: 'Models resident on a worker',
    labelNames: ['worker'] as const,
    registers: [registry],
  }),
  gpuMemoryTotal: new Gauge({ name: 'fabric_gpu_memory_total_bytes', help: 'GPU memory in all', labelNames: ['gpu', 'worker'] as const, registers: [registry] }),
  gpuMemoryUsed: new Gauge({ name: 'fabric_gpu_memory_used_bytes', help: 'GPU memory in use (all processes)', labelNames: ['gpu', 'worker'] as const, registers: [registry] }),
  gpuMemoryFree: new Gauge({ name: 'fabric_gpu_memory_free_bytes', help: 'GPU memory free', labelNames: ['gpu', 'worker'] as const, registers: [registry] }),
  gpuUtilization: new Gauge({ name: 'fabric_gpu_utilization_ratio', help: 'GPU compute utilization, 0 to 1', labelNames: ['gpu', 'worker'] as const, registers: [registry] }),
  heartbeats: new Counter({
    name: 'fabric_worker_heartbeats_total',
    help: 'Heartbeats written by a worker',
    labelNames: ['worker'] as const,
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
