/** The worker's Prometheus metrics (on the process registry, protocol/metrics.ts). */
import { Counter, Gauge, Histogram } from 'prom-client';
import { LATENCY_BUCKETS, jobsFinished, registry } from '../protocol/metrics.ts';

export const metrics = {
  jobsFinished,
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
  jobsDeferred: new Counter({
    name: 'fabric_jobs_deferred_total',
    help: 'Jobs put back in their queue unstarted because their tenant was at its running cap',
    labelNames: ['model'] as const,
    registers: [registry],
  }),
  heartbeats: new Counter({
    name: 'fabric_worker_heartbeats_total',
    help: 'Heartbeats written by a worker',
    labelNames: ['worker'] as const,
    registers: [registry],
  }),
};
