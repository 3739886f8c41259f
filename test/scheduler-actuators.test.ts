import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../protocol/env.ts';
import { createLogger } from '../protocol/logger.ts';
import { registry } from '../protocol/metrics.ts';
import { createScaleActuator } from '../scheduler/actuators/factory.ts';
import { kubernetesScaleActuator } from '../scheduler/actuators/kubernetes.ts';
import { metricScaleActuator } from '../scheduler/actuators/metric.ts';
import { listenSchedulerHttp, type SchedulerHttpServer } from '../scheduler/http-server.ts';
import { schedulerConfigFromEnv } from '../scheduler/index.ts';
import { LogScaleActuator, ScaleActuatorError } from '../scheduler/actuators/scale-actuator.ts';

const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
const TOKEN = 'test-token';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});

interface SeenRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  authorization: string | undefined;
  body: unknown;
}

/**
 * Answers the Deployment scale subresource as the API server does: a `Scale` object on GET
 * and on a merge PATCH, a `Status` failure for unknown deployments, forbidden namespaces and
 * a forced outage.
 */
async function fakeApiServer(deployments: Record<string, number>, opts: { forbidden?: string[]; down?: boolean; pods?: Record<string, Record<string, string>> } = {}) {
  const seen: SeenRequest[] = [];
  const pods = opts.pods ?? {};
  const status = (res: ServerResponse, code: number, reason: string, message: string) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
  };
  const scaleObject = (ns: string, name: string, replicas: number) => ({
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name, namespace: ns, uid: `uid-${name}`, resourceVersion: String(1000 + replicas), creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { replicas },
    status: { replicas, selector: `app=${name}` },
  });
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      seen.push({ method: req.method ?? '', path, contentType: req.headers['content-type'], authorization: req.headers.authorization, body: raw ? JSON.parse(raw) : undefined });
      if (opts.down) return status(res, 503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
      const pod = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(path);
      if (pod) {
        const key = `${pod[1]}/${pod[2]}`;
        if (!pods[key]) return status(res, 404, 'NotFound', `pods "${pod[2]}" not found`);
        if (req.method !== 'PATCH' || req.headers['content-type'] !== 'application/merge-patch+json') return status(res, 415, 'UnsupportedMediaType', 'unsupported patch type');
        Object.assign(pods[key]!, (JSON.parse(raw) as { metadata: { annotations: Record<string, string> } }).metadata.annotations);
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ kind: 'Pod', apiVersion: 'v1', metadata: { name: pod[2], namespace: pod[1], annotations: pods[key] } }));
      }
      const m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)\/scale$/.exec(path);
      if (!m) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
      const [, ns, name] = m as unknown as [string, string, string];
      if (opts.forbidden?.includes(ns)) {
        return status(res, 403, 'Forbidden', `deployments.apps "${name}" is forbidden: User "system:serviceaccount:${ns}:fabric" cannot get resource "deployments/scale" in API group "apps" in the namespace "${ns}"`);
      }
      const key = `${ns}/${name}`;
      if (deployments[key] === undefined) return status(res, 404, 'NotFound', `deployments.apps "${name}" not found`);
      if (req.method === 'PATCH') {
        if (req.headers['content-type'] !== 'application/merge-patch+json') return status(res, 415, 'UnsupportedMediaType', 'unsupported patch type');
        deployments[key] = (JSON.parse(raw) as { spec: { replicas: number } }).spec.replicas;
      } else if (req.method !== 'GET') {
        return status(res, 405, 'MethodNotAllowed', 'method not allowed');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(scaleObject(ns, name, deployments[key]!)));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, deployments, pods };
}

function kubeConfigFor(server: string, namespace = 'fabric'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server, skipTLSVerify: true }],
    users: [{ name: 'sa', token: TOKEN }],
    contexts: [{ name: 'ctx', cluster: 'local', user: 'sa', namespace }],
    currentContext: 'ctx',
  });
  return kc;
}

const SCALE_PATH = '/apis/apps/v1/namespaces/fabric/deployments/fabric-worker/scale';

describe('kubernetes scale actuator', () => {
  it('reads the scale, then merge-patches spec.replicas of the worker deployment in the credentials namespace', async () => {
    const api = await fakeApiServer({ 'fabric/fabric-worker': 2 });
    const k8s = kubernetesScaleActuator({}, { log, kubeConfig: kubeConfigFor(api.url) });
    await k8s.apply(3, 'unplaceable');
    expect(api.seen).toEqual([
      { method: 'GET', path: SCALE_PATH, contentType: undefined, authorization: `Bearer ${TOKEN}`, body: undefined },
      { method: 'PATCH', path: SCALE_PATH, contentType: 'application/merge-patch+json', authorization: `Bearer ${TOKEN}`, body: { spec: { replicas: 3 } } },
    ]);
    expect(api.deployments['fabric/fabric-worker']).toBe(3);
  });

  it('scales a pool’s own deployment and, releasing a drained worker, marks its pod with the lowest deletion cost before the scale-down', async () => {
    const api = await fakeApiServer({ 'fabric/fabric-worker-large': 1, 'fabric/fabric-worker-small': 3 }, { pods: { 'fabric/small-a': {}, 'fabric/small-b': {} } });
    const k8s = kubernetesScaleActuator({}, { log, kubeConfig: kubeConfigFor(api.url) });
    await k8s.apply(2, 'unplaceable', { pool: 'large' });
    expect(api.deployments['fabric/fabric-worker-large']).toBe(2);
    await k8s.apply(2, 'drained', { pool: 'small', release: { worker: 'small-b-1', host: 'small-b' } });
    expect(api.deployments['fabric/fabric-worker-small']).toBe(2);
    expect(api.pods['fabric/small-b']).toEqual({ 'controller.kubernetes.io/pod-deletion-cost': '-1000000' });
    expect(api.pods['fabric/small-a']).toEqual({});
    const patches = api.seen.filter((r) => r.method === 'PATCH').map((r) => r.path);
    expect(patches).toEqual(['/apis/apps/v1/namespaces/fabric/deployments/fabric-worker-large/scale', '/api/v1/namespaces/fabric/pods/small-b', '/apis/apps/v1/namespaces/fabric/deployments/fabric-worker-small/scale']);
  });

  it('does nothing but read when the deployment already has the desired count', async () => {
    const api = await fakeApiServer({ 'fabric/fabric-worker': 3 });
    const k8s = kubernetesScaleActuator({}, { log, kubeConfig: kubeConfigFor(api.url) });
    await k8s.apply(3, 'unplaceable');
    await k8s.apply(3, 'unplaceable');
    expect(api.seen.map((r) => r.method)).toEqual(['GET', 'GET']);
  });

  it('clamps the wish to the configured min and max and honours an explicit namespace and deployment', async () => {
    const api = await fakeApiServer({ 'gpu/llm-workers': 2 });
    const k8s = kubernetesScaleActuator({ namespace: 'gpu', deployment: 'llm-workers', minWorkers: 2, maxWorkers: 4 }, { log, kubeConfig: kubeConfigFor(api.url) });
    await k8s.apply(9, 'unplaceable');
    expect(api.deployments['gpu/llm-workers']).toBe(4);
    await k8s.apply(0, 'idle');
    expect(api.deployments['gpu/llm-workers']).toBe(2);
    expect(api.seen.filter((r) => r.method === 'PATCH').map((r) => [r.path, r.body])).toEqual([
      ['/apis/apps/v1/namespaces/gpu/deployments/llm-workers/scale', { spec: { replicas: 4 } }],
      ['/apis/apps/v1/namespaces/gpu/deployments/llm-workers/scale', { spec: { replicas: 2 } }],
    ]);
  });

  it('fails with a final not_found error naming the settings when the deployment does not exist', async () => {
    const api = await fakeApiServer({});
    const k8s = kubernetesScaleActuator({}, { log, kubeConfig: kubeConfigFor(api.url) });
    const err = await k8s.apply(2, 'unplaceable').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScaleActuatorError);
    expect(err).toMatchObject({ code: 'not_found', retryable: false, status: 404 });
    expect((err as Error).message).toMatch(/deployments\.apps "fabric-worker" not found.*FABRIC_K8S_DEPLOYMENT/);
    expect(api.seen.map((r) => r.method)).toEqual(['GET']);
  });

  it('fails with a final forbidden error that names the missing RBAC permission', async () => {
    const api = await fakeApiServer({ 'fabric/fabric-worker': 1 }, { forbidden: ['fabric'] });
    const k8s = kubernetesScaleActuator({}, { log, kubeConfig: kubeConfigFor(api.url) });
    const err = await k8s.apply(2, 'unplaceable').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'forbidden', retryable: false, status: 403 });
    expect((err as Error).message).toMatch(/cannot get resource "deployments\/scale".*grant get and patch/);
  });

  it('marks an unavailable API server and a refused connection as retryable', async () => {
    const api = await fakeApiServer({ 'fabric/fabric-worker': 1 }, { down: true });
    const down = await kubernetesScaleActuator({}, { log, kubeConfig: kubeConfigFor(api.url) }).apply(2, 'x').catch((e: unknown) => e);
    expect(down).toMatchObject({ code: 'unavailable', retryable: true, status: 503 });
    const refused = await kubernetesScaleActuator({}, { log, kubeConfig: kubeConfigFor('http://127.0.0.1:1') }).apply(2, 'x').catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'unavailable', retryable: true });
  });

  it('refuses to start outside a cluster without a kubeconfig, and rejects invalid names up front', () => {
    const saved = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      expect(() => kubernetesScaleActuator({}, { log })).toThrow(/in-cluster credentials/);
    } finally {
      if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved;
    }
    expect(() => kubernetesScaleActuator({ deployment: 'Bad_Name' }, { log, kubeConfig: kubeConfigFor('http://127.0.0.1:1') })).toThrow(ConfigError);
    expect(() => kubernetesScaleActuator({ minWorkers: 5, maxWorkers: 2 }, { log, kubeConfig: kubeConfigFor('http://127.0.0.1:1') })).toThrow(ConfigError);
  });
});

describe('metric scale actuator and the scheduler HTTP server', () => {
  async function serve(leader: { value: boolean }, desiredScale?: () => ReturnType<ReturnType<typeof metricScaleActuator>['current']>): Promise<SchedulerHttpServer> {
    const http = await listenSchedulerHttp(0, '127.0.0.1', { scheduler: { isLeader: () => leader.value, lifecycle: 'running' }, desiredScale });
    cleanups.push(() => http.close());
    return http;
  }

  it('serves the desired count as KEDA metrics-api JSON and as the fabric_desired_workers gauge, clamped', async () => {
    let now = Date.parse('2026-03-01T12:00:00Z');
    const metric = metricScaleActuator({ minWorkers: 1, maxWorkers: 5 }, { log, clock: () => now });
    const http = await serve({ value: true }, () => metric.current());
    // Before any decision there is no value, so the autoscaler keeps the current size.
    const before = await fetch(`${http.url}/v1/scale`);
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ error: { code: 'no_decision', message: 'no scale decision yet' } });
    expect(await registry.getSingleMetricAsString('fabric_desired_workers')).not.toMatch(/actuator="metric"/);

    await metric.apply(3, 'unplaceable');
    now += 1_000;
    await metric.apply(9, 'unplaceable');
    const res = await fetch(`${http.url}/v1/scale`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ desiredWorkers: 5, reason: 'unplaceable', updatedAt: '2026-03-01T12:00:01.000Z' });
    const prom = await (await fetch(`${http.url}/metrics`)).text();
    expect(prom).toMatch(/^fabric_desired_workers\{actuator="metric"\} 5$/m);
    expect(prom).toMatch(/^fabric_scheduler_leader /m);
  });

  it('answers 503 not_leader on a standby, 404 without the metric actuator, and reports liveness', async () => {
    const metric = metricScaleActuator({}, { log });
    await metric.apply(2, 'unplaceable');
    const leader = { value: false };
    const standby = await serve(leader, () => metric.current());
    const res = await fetch(`${standby.url}/v1/scale`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect((await res.json()).error.code).toBe('not_leader');
    leader.value = true;
    expect((await (await fetch(`${standby.url}/v1/scale`)).json()).desiredWorkers).toBe(2);

    const plain = await serve({ value: true });
    expect((await fetch(`${plain.url}/v1/scale`)).status).toBe(404);
    const health = await fetch(`${plain.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', lifecycle: 'running', leader: true });
    expect((await fetch(`${plain.url}/v1/scale`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${plain.url}/nope`)).status).toBe(404);
  });

  it('the log actuator also records the desired count on the gauge', async () => {
    await new LogScaleActuator(log).apply(4, 'unplaceable');
    expect(await registry.getSingleMetricAsString('fabric_desired_workers')).toMatch(/^fabric_desired_workers\{actuator="log"\} 4$/m);
  });
});

describe('scale actuator config', () => {
  it('defaults to the log actuator and the HTTP server on port 9092', () => {
    const cfg = schedulerConfigFromEnv({});
    expect(cfg.scale).toEqual({ kind: 'log' });
    expect(cfg.http).toEqual({ port: 9092, host: '0.0.0.0' });
    expect(createScaleActuator(cfg.scale, { log }).actuator).toBeInstanceOf(LogScaleActuator);
  });

  it('only the log actuator says it removes no worker (so the scheduler drains none under it)', () => {
    expect(createScaleActuator({ kind: 'log' }, { log }).actuator.removesWorkers).toBe(false);
    expect(createScaleActuator({ kind: 'metric', options: {} }, { log }).actuator.removesWorkers).not.toBe(false);
  });

  it('reads the kubernetes and metric actuators with their limits, namespace, deployment and instance id', () => {
    expect(
      schedulerConfigFromEnv({ FABRIC_SCALE_ACTUATOR: 'kubernetes', FABRIC_K8S_NAMESPACE: 'gpu', FABRIC_K8S_DEPLOYMENT: 'w', FABRIC_MIN_WORKERS: '0', FABRIC_MAX_WORKERS: '3' }).scale,
    ).toEqual({ kind: 'kubernetes', options: { namespace: 'gpu', deployment: 'w', minWorkers: 0, maxWorkers: 3 } });
    expect(schedulerConfigFromEnv({ FABRIC_MIN_WORKERS: '2', FABRIC_MAX_WORKERS: '6' }).options.policy).toMatchObject({ minWorkers: 2, maxWorkers: 6 });
    const cfg = schedulerConfigFromEnv({ FABRIC_SCALE_ACTUATOR: 'metric', FABRIC_SCHEDULER_PORT: '0', FABRIC_SCHEDULER_ID: 'sched-a' });
    expect(cfg.scale).toEqual({ kind: 'metric', options: { minWorkers: 1, maxWorkers: 10 } });
    expect(cfg.http.port).toBe(0);
    expect(cfg.options.instanceId).toBe('sched-a');
    expect(createScaleActuator(cfg.scale, { log }).desiredScale?.()).toBeNull();
  });

  it('rejects an unknown actuator and inconsistent limits with the variable named', () => {
    expect(() => schedulerConfigFromEnv({ FABRIC_SCALE_ACTUATOR: 'keda' })).toThrow(/FABRIC_SCALE_ACTUATOR must be one of log, kubernetes, metric/);
    expect(() => schedulerConfigFromEnv({ FABRIC_SCALE_ACTUATOR: 'metric', FABRIC_MIN_WORKERS: '4', FABRIC_MAX_WORKERS: '2' })).toThrow(/FABRIC_MAX_WORKERS/);
    expect(() => schedulerConfigFromEnv({ FABRIC_SCHEDULER_PORT: '-1' })).toThrow(ConfigError);
  });
});
