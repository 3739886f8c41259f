/**
 * Publishes the desired worker count for an external autoscaler instead of acting on it:
 * the `fabric_desired_workers{actuator="metric"}` gauge for Prometheus-based HPA adapters or
 * KEDA's prometheus scaler, and a JSON body for KEDA's metrics-api scaler
 * (`valueLocation: desiredWorkers`, `targetValue: "1"` with the default AverageValue metric
 * type makes replicas = desiredWorkers).
 *
 * Until the first decision there is no value: the gauge exports nothing and `current()` is
 * null (the HTTP endpoint answers 503), so a restarted scheduler never tells the autoscaler
 * to shrink the pool to a default.
 */
import { clampWorkers, desiredWorkersGauge, workerLimits, type ScaleActuator, type WorkerLimits } from './scale-actuator.ts';
import type { Logger } from '../../protocol/logger.ts';

export type MetricActuatorOptions = WorkerLimits;

export function metricActuatorOptions(input: Partial<MetricActuatorOptions> = {}): MetricActuatorOptions {
  return workerLimits(input);
}

/** The body KEDA's metrics-api scaler reads. */
export interface DesiredScale {
  desiredWorkers: number;
  reason: string;
  /** ISO 8601 time of the decision that set it. */
  updatedAt: string;
}

export class MetricScaleActuator implements ScaleActuator {
  private state: DesiredScale | null = null;

  readonly options: MetricActuatorOptions;
  private readonly log: Logger;
  private readonly clock: () => number;
  constructor(
    options: MetricActuatorOptions,
    log: Logger,
    clock: () => number = Date.now,
  ) {
    this.options = options;
    this.log = log;
    this.clock = clock;
  }

  /** Records the clamped count; never fails. */
  async apply(desiredWorkers: number, reason: string): Promise<void> {
    const target = clampWorkers(desiredWorkers, this.options);
    const previous = this.state?.desiredWorkers;
    this.state = { desiredWorkers: target, reason, updatedAt: new Date(this.clock()).toISOString() };
    desiredWorkersGauge.set({ actuator: 'metric' }, target);
    if (previous !== target) this.log.info({ actuator: 'metric', from: previous ?? null, to: target, desiredWorkers, reason }, 'Desired workers changed');
  }

  /** The last decision, or null before the first. */
  current(): DesiredScale | null {
    return this.state && { ...this.state };
  }
}

export function metricScaleActuator(input: Partial<MetricActuatorOptions>, deps: { log: Logger; clock?: () => number }): MetricScaleActuator {
  return new MetricScaleActuator(metricActuatorOptions(input), deps.log, deps.clock);
}
