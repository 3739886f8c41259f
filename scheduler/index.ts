/** The scheduler deployable's entry points, for its own main and the one-process start. */
import type { RedisClient } from '../store/redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import { schedulerOptions, type SchedulerOptionsInput } from './options.ts';
import type { ScaleActuator } from './actuators/scale-actuator.ts';
import { Scheduler } from './scheduler.ts';

export { createScaleActuator, type BuiltScaleActuator, type ScaleActuatorConfig, type ScaleActuatorKind } from './actuators/factory.ts';
export { KUBERNETES_ACTUATOR_DEFAULTS, KubernetesScaleActuator, kubernetesScaleActuator, type KubernetesActuatorOptions } from './actuators/kubernetes.ts';
export { MetricScaleActuator, metricScaleActuator, type DesiredScale, type MetricActuatorOptions } from './actuators/metric.ts';
export { schedulerConfigFromEnv, SCHEDULER_HTTP_DEFAULTS, type SchedulerConfig } from './config.ts';
export { listenSchedulerHttp, schedulerHttpHandler, type SchedulerHttpDeps, type SchedulerHttpServer } from './http-server.ts';
export { decide, type Action, type ActionReason, type LoadReason, type ScaleReason, type UnloadReason } from './decide.ts';
export { LeaderLease, leaderLeaseOptions, type LeaderLeaseOptions, type LeaseState } from './leader-lease.ts';
export { schedulerMetrics } from './metrics.ts';
export { SCHEDULER_DEFAULTS, schedulerOptions, type SchedulerOptions, type SchedulerOptionsInput } from './options.ts';
export { SCHEDULER_POLICY_DEFAULTS, schedulerPolicy, type SchedulerPolicy, type SchedulerPolicyInput } from './policy.ts';
export { desiredWorkersGauge, LogScaleActuator, ScaleActuatorError, WORKER_LIMIT_DEFAULTS, type ScaleActuator, type ScaleErrorCode, type WorkerLimits } from './actuators/scale-actuator.ts';
export { Scheduler, type DecisionTrigger, type SchedulerDeps, type SchedulerState } from './scheduler.ts';
export { readSnapshot, type QueueDepth, type Snapshot } from './snapshot.ts';

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
