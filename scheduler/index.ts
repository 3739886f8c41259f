/** The scheduler deployable's entry points, for its own main and the one-process start. */
import type { RedisClient } from '../store/redis-client.js';
import type { Keys } from '../protocol/keys.js';
import type { Logger } from '../protocol/logger.js';
import { schedulerOptions, type SchedulerOptionsInput } from './options.js';
import type { ScaleActuator } from './actuators/scale-actuator.js';
import { Scheduler } from './scheduler.js';

export { createScaleActuator, type BuiltScaleActuator, type ScaleActuatorConfig, type ScaleActuatorKind } from './actuators/factory.js';
export { KUBERNETES_ACTUATOR_DEFAULTS, KubernetesScaleActuator, kubernetesScaleActuator, type KubernetesActuatorOptions } from './actuators/kubernetes.js';
export { MetricScaleActuator, metricScaleActuator, type DesiredScale, type MetricActuatorOptions } from './actuators/metric.js';
export { schedulerConfigFromEnv, SCHEDULER_HTTP_DEFAULTS, type SchedulerConfig } from './config.js';
export { listenSchedulerHttp, schedulerHttpHandler, type SchedulerHttpDeps, type SchedulerHttpServer } from './http-server.js';
export { decide, type Action, type ActionReason, type LoadReason, type ScaleReason, type UnloadReason } from './decide.js';
export { LeaderLease, leaderLeaseOptions, type LeaderLeaseOptions, type LeaseState } from './leader-lease.js';
export { schedulerMetrics } from './metrics.js';
export { SCHEDULER_DEFAULTS, schedulerOptions, type SchedulerOptions, type SchedulerOptionsInput } from './options.js';
export { SCHEDULER_POLICY_DEFAULTS, schedulerPolicy, type SchedulerPolicy, type SchedulerPolicyInput } from './policy.js';
export { desiredWorkersGauge, LogScaleActuator, ScaleActuatorError, WORKER_LIMIT_DEFAULTS, type ScaleActuator, type ScaleErrorCode, type WorkerLimits } from './actuators/scale-actuator.js';
export { Scheduler, type DecisionTrigger, type SchedulerDeps, type SchedulerState } from './scheduler.js';
export { readSnapshot, type QueueDepth, type Snapshot } from './snapshot.js';

export interface StartSchedulerParams {
  redis: RedisClient;
  keys: Keys;
  log: Logger;
  options?: SchedulerOptionsInput;
  scaler?: ScaleActuator;
}

/** Builds and starts a scheduler; the caller owns `redis` and closes the scheduler before it. */
export async function startScheduler(p: StartSchedulerParams): Promise<Scheduler> {
  const scheduler = new Scheduler({ redis: p.redis, keys: p.keys, log: p.log, scaler: p.scaler }, schedulerOptions(p.options));
  await scheduler.start();
  return scheduler;
}
