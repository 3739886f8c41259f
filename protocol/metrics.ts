/**
 * The process's Prometheus registry and the one metric two services record (a job reaching a
 * terminal status: the worker when it runs one, the API when it cancels or expires one). Each
 * service defines its own metrics in its own module on this registry, so the one-process start
 * exposes them all on each of its servers, as the separate deployables do theirs.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { registerFleetMetrics } from './fleet.ts';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'fabric_process_' });
registerFleetMetrics(registry);

/** Buckets of every latency histogram, in seconds. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Jobs that reached a terminal status, by model and status. */
export const jobsFinished = new Counter({
  name: 'fabric_jobs_total',
  help: 'Jobs that reached a terminal status',
  labelNames: ['model', 'status'] as const,
  registers: [registry],
});

/** 1 while the process's Redis connections of a role are connected, else 0 (store/redis-config.ts). */
export const redisConnected = new Gauge({
  name: 'fabric_redis_connected',
  help: 'Whether this process is connected to Redis, by connection role (requests, background)',
  labelNames: ['role'] as const,
  registers: [registry],
  // Several API processes on one host (FABRIC_API_PROCESSES): connected only if all of them are.
  aggregator: 'min',
});
