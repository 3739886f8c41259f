/** Builds the configured scale actuator: the one place the real ones are wired. */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../protocol/logger.ts';
import { LogScaleActuator, type ScaleActuator, type WorkerLimits } from './scale-actuator.ts';
import { kubernetesScaleActuator, type KubernetesActuatorOptions } from './kubernetes.ts';
import { metricScaleActuator, type DesiredScale } from './metric.ts';

export type ScaleActuatorKind = 'log' | 'kubernetes' | 'metric';
export const SCALE_ACTUATOR_KINDS: readonly ScaleActuatorKind[] = ['log', 'kubernetes', 'metric'];

export type ScaleActuatorConfig =
  | { kind: 'log' }
  | { kind: 'kubernetes'; options: Partial<KubernetesActuatorOptions> }
  | { kind: 'metric'; options: Partial<WorkerLimits> };

export interface BuiltScaleActuator {
  actuator: ScaleActuator;
  /** The metric actuator's last decision, for `/v1/scale`; absent for the other kinds. */
  desiredScale?: () => DesiredScale | null;
}

export function createScaleActuator(config: ScaleActuatorConfig, deps: { log: Logger; kubeConfig?: KubeConfig }): BuiltScaleActuator {
  switch (config.kind) {
    case 'log':
      return { actuator: new LogScaleActuator(deps.log) };
    case 'kubernetes':
      return { actuator: kubernetesScaleActuator(config.options, deps) };
    case 'metric': {
      const m = metricScaleActuator(config.options, deps);
      return { actuator: m, desiredScale: () => m.current() };
    }
  }
}
