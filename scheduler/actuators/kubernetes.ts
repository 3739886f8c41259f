/**
 * Scales the worker Deployment through its `scale` subresource: read the scale, and only if
 * the clamped wish differs, JSON-merge-patch `{"spec":{"replicas":N}}`. With worker pools, each
 * pool is its own Deployment (`deploymentPerPool`, `{pool}` replaced by the pool's name). A
 * scale-down that names the drained worker first marks its pod with the
 * `controller.kubernetes.io/pod-deletion-cost` annotation (lowest), so the ReplicaSet removes
 * that pod and not a busy one. Needs RBAC `get` and `patch` on `deployments/scale` and `patch`
 * on `pods` in the namespace; in-cluster credentials by default.
 */
import { ApiException, AppsV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ConfigError } from '../../protocol/env.ts';
import type { Logger } from '../../protocol/logger.ts';
import { clampWorkers, desiredWorkersGauge, ScaleActuatorError, workerLimits, type ScaleActuator, type ScaleTarget, type WorkerLimits } from './scale-actuator.ts';

export interface KubernetesActuatorOptions extends WorkerLimits {
  namespace: string;
  /** The worker Deployment's name (no pools). */
  deployment: string;
  /** A pool's Deployment: `{pool}` is replaced by the pool's name. */
  deploymentPerPool: string;
  /** Recorded in the Deployment's managedFields as the writer of `spec.replicas`. */
  fieldManager: string;
}

export const KUBERNETES_ACTUATOR_DEFAULTS = Object.freeze({
  namespace: 'default',
  deployment: 'fabric-worker',
  deploymentPerPool: 'fabric-worker-{pool}',
  fieldManager: 'fabric-scheduler',
});

export function kubernetesActuatorOptions(input: Partial<KubernetesActuatorOptions> = {}): KubernetesActuatorOptions {
  const o: KubernetesActuatorOptions = {
    namespace: input.namespace ?? KUBERNETES_ACTUATOR_DEFAULTS.namespace,
    deployment: input.deployment ?? KUBERNETES_ACTUATOR_DEFAULTS.deployment,
    deploymentPerPool: input.deploymentPerPool ?? KUBERNETES_ACTUATOR_DEFAULTS.deploymentPerPool,
    fieldManager: input.fieldManager ?? KUBERNETES_ACTUATOR_DEFAULTS.fieldManager,
    ...workerLimits(input),
  };
  // DNS-1123 names, as the API server requires; a typo should fail at start, not on the first scale.
  const dns = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  if (!dns.test(o.namespace) || o.namespace.length > 63) throw new ConfigError(`kubernetes namespace ${JSON.stringify(o.namespace)} is not a valid name`);
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.deployment) || o.deployment.length > 253) {
    throw new ConfigError(`kubernetes deployment ${JSON.stringify(o.deployment)} is not a valid name`);
  }
  if (!o.deploymentPerPool.includes('{pool}')) throw new ConfigError(`kubernetes deploymentPerPool ${JSON.stringify(o.deploymentPerPool)} must contain {pool}`);
  return o;
}

/** The two calls the actuator makes; the real one is `scaleSubresource(AppsV1Api)`. */
export interface ScaleSubresource {
  /** `spec.replicas` of the Deployment's scale. */
  getReplicas(namespace: string, deployment: string): Promise<number>;
  /** Sets `spec.replicas`; returns the value the server stored. */
  setReplicas(namespace: string, deployment: string, replicas: number, fieldManager: string): Promise<number>;
  /** Sets the pod's `controller.kubernetes.io/pod-deletion-cost` annotation. */
  setDeletionCost(namespace: string, pod: string, cost: number, fieldManager: string): Promise<void>;
}

export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
/** Below the default 0 of every other pod: the ReplicaSet removes this one first. */
const RELEASE_COST = -1_000_000;

/** The scale subresource over the generated client, with API errors mapped to `ScaleActuatorError`. */
export function scaleSubresource(api: AppsV1Api, core: CoreV1Api): ScaleSubresource {
  const target = (ns: string, name: string) => `deployments/${name} in namespace ${ns}`;
  return {
    async getReplicas(namespace, name) {
      try {
        const scale = await api.readNamespacedDeploymentScale({ name, namespace });
        return scale.spec?.replicas ?? 0;
      } catch (err) {
        throw scaleError(err, `read scale of ${target(namespace, name)}`);
      }
    },
    async setReplicas(namespace, name, replicas, fieldManager) {
      try {
        const scale = await api.patchNamespacedDeploymentScale(
          { name, namespace, body: { spec: { replicas } }, fieldManager },
          // The generated client defaults to JSON Patch; this body is a merge patch.
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return scale.spec?.replicas ?? replicas;
      } catch (err) {
        throw scaleError(err, `patch scale of ${target(namespace, name)}`);
      }
    },
    async setDeletionCost(namespace, pod, cost, fieldManager) {
      try {
        await core.patchNamespacedPod(
          { name: pod, namespace, body: { metadata: { annotations: { [POD_DELETION_COST]: String(cost) } } }, fieldManager },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      } catch (err) {
        throw scaleError(err, `annotate pod ${pod} in namespace ${namespace}`);
      }
    },
  };
}

/** Maps an API or network failure onto retryable (5xx, 429, 409, network) and final (401, 403, 404, 4xx) kinds. */
export function scaleError(err: unknown, what: string): ScaleActuatorError {
  if (err instanceof ScaleActuatorError) return err;
  if (err instanceof ApiException) {
    const status = err.code;
    const detail = statusMessage(err.body);
    const msg = `${what}: HTTP ${status}${detail ? ` (${detail})` : ''}`;
    if (status === 401) return new ScaleActuatorError('unauthorized', `${msg}; check the service account token`, false, status, { cause: err });
    if (status === 403) return new ScaleActuatorError('forbidden', `${msg}; grant get and patch on deployments/scale`, false, status, { cause: err });
    if (status === 404) return new ScaleActuatorError('not_found', `${msg}; check FABRIC_K8S_NAMESPACE and FABRIC_K8S_DEPLOYMENT`, false, status, { cause: err });
    if (status === 409) return new ScaleActuatorError('conflict', msg, true, status, { cause: err });
    if (status === 429 || status >= 500) return new ScaleActuatorError('unavailable', msg, true, status, { cause: err });
    return new ScaleActuatorError('invalid', msg, false, status, { cause: err });
  }
  // Connection refused, DNS, TLS, timeouts: the API server may be back soon.
  return new ScaleActuatorError('unavailable', `${what}: ${err instanceof Error ? err.message : String(err)}`, true, undefined, { cause: err });
}

/** The `message` of a Kubernetes `Status` body, whether the client parsed it or left it a string. */
function statusMessage(body: unknown): string | undefined {
  let b = body;
  if (typeof body === 'string') {
    try {
      b = JSON.parse(body);
    } catch {
      return body.slice(0, 200) || undefined;
    }
  }
  const m = (b as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m : undefined;
}

export class KubernetesScaleActuator implements ScaleActuator {
  readonly options: KubernetesActuatorOptions;
  private readonly scale: ScaleSubresource;
  private readonly log: Logger;
  constructor(
    options: KubernetesActuatorOptions,
    scale: ScaleSubresource,
    log: Logger,
  ) {
    this.options = options;
    this.scale = scale;
    this.log = log;
  }

  /**
   * Sets the Deployment (the pool's, with `scale.pool`) to the clamped count unless it is already
   * there, after marking the released worker's pod as the one to delete; throws `ScaleActuatorError`.
   */
  async apply(desiredWorkers: number, reason: string, scale: ScaleTarget = {}): Promise<void> {
    const { namespace, fieldManager } = this.options;
    const deployment = scale.pool ? this.options.deploymentPerPool.replaceAll('{pool}', scale.pool) : this.options.deployment;
    // Pools carry their own min and max in the scheduler's policy; the actuator's bounds apply to the one Deployment.
    const target = scale.pool ? Math.max(0, Math.round(desiredWorkers)) : clampWorkers(desiredWorkers, this.options);
    desiredWorkersGauge.set({ actuator: 'kubernetes' }, target);
    const current = await this.scale.getReplicas(namespace, deployment);
    if (current === target) {
      this.log.debug({ actuator: 'kubernetes', namespace, deployment, replicas: current, desiredWorkers, reason }, 'Scale unchanged');
      return;
    }
    if (scale.release && target < current) {
      await this.scale.setDeletionCost(namespace, scale.release.host, RELEASE_COST, fieldManager);
      this.log.info({ actuator: 'kubernetes', namespace, pod: scale.release.host, worker: scale.release.worker }, 'Drained worker pod marked for deletion');
    }
    const stored = await this.scale.setReplicas(namespace, deployment, target, fieldManager);
    this.log.info({ actuator: 'kubernetes', namespace, deployment, from: current, to: stored, desiredWorkers, reason }, 'Worker deployment scaled');
  }
}

/**
 * The actuator with in-cluster credentials (service account token, CA and namespace) unless a
 * `kubeConfig` is given (tests, out-of-cluster runs). Without `namespace` it uses the
 * credentials' namespace: in a pod, its own.
 */
export function kubernetesScaleActuator(input: Partial<KubernetesActuatorOptions>, deps: { log: Logger; kubeConfig?: KubeConfig }): KubernetesScaleActuator {
  let kc = deps.kubeConfig;
  if (!kc) {
    // loadFromCluster() does not fail outside a pod; it would build `https://undefined` and
    // every scale would then fail as a retryable network error. Fail at start instead.
    if (!process.env.KUBERNETES_SERVICE_HOST) throw new ConfigError('the kubernetes scale actuator needs in-cluster credentials (KUBERNETES_SERVICE_HOST is unset)');
    kc = new KubeConfig();
    kc.loadFromCluster();
  }
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const options = kubernetesActuatorOptions({ ...input, namespace: input.namespace ?? contextNamespace });
  return new KubernetesScaleActuator(options, scaleSubresource(kc.makeApiClient(AppsV1Api), kc.makeApiClient(CoreV1Api)), deps.log);
}
