/** The scheduler's Prometheus metrics, registered on the fabric's shared registry. */
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../protocol/metrics.ts';

export const schedulerMetrics = {
  decisions: new Counter({
    name: 'fabric_scheduler_decisions_total',
    help: 'Actions the scheduler applied, by action (load, unload, scale) and reason',
    labelNames: ['action', 'reason'] as const,
    registers: [registry],
  }),
  commandErrors: new Counter({
    name: 'fabric_scheduler_command_errors_total',
    help: 'Load or unload commands that could not be written to a worker control stream',
    labelNames: ['action'] as const,
    registers: [registry],
  }),
  leader: new Gauge({
    name: 'fabric_scheduler_leader',
    help: '1 while this process holds the scheduler lease, else 0',
    registers: [registry],
  }),
  decisionDuration: new Histogram({
    name: 'fabric_scheduler_decision_seconds',
    help: 'Snapshot, decide and apply, by what triggered the run (wake, tick, leader, coalesced)',
    labelNames: ['trigger'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  }),
};
