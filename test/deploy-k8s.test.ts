/**
 * k8s/ (kustomize base plus overlays), checked offline:
 * - `kubectl kustomize k8s/overlays/<name>` renders each overlay (kubectl must be installed);
 * - every rendered object of a core kind validates against the Kubernetes OpenAPI schemas shipped
 *   in the `kubernetes-models` package; the CRD objects (ServiceMonitor, PrometheusRule,
 *   ScaledObject) get structural checks;
 * - cross-references: Service selectors match a pod template, targetPorts and probes name real
 *   container ports, the Role names the real worker Deployment and the scheduler scales that one,
 *   every env var on our containers is read by a config reader, the PrometheusRule groups equal
 *   deploy/prometheus/alerts.yml, the KEDA trigger points at the scheduler's Service.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parsePools } from '../scheduler/config.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (p: string): string => readFileSync(join(root, p), 'utf8');
const KUBECTL = process.env.KUBECTL ?? 'kubectl';
const OVERLAYS = ['default', 'keda'] as const;
const NAMESPACE = 'inference-fabric';
const WORKER_POOLS = ['fabric-worker-small', 'fabric-worker-large'];
const OUR_IMAGE = 'inference-fabric';
/** The `gpu-worker` target: the Ollama image with Node, whose worker supervises `ollama serve`. */
const GPU_IMAGE = 'inference-fabric-gpu-worker';

// ---- loose shapes of what we read from the rendered YAML ------------------------------------
interface Meta { name: string; namespace?: string; labels?: Record<string, string> }
interface K8sObject { apiVersion: string; kind: string; metadata: Meta; spec?: any; [k: string]: unknown }
interface ContainerPort { name?: string; containerPort: number }
interface Probe { httpGet?: { path?: string; port: string | number }; tcpSocket?: { port: string | number }; exec?: unknown }
interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: unknown } }
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: ContainerPort[];
  env?: EnvVar[];
  readinessProbe?: Probe;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  resources?: { limits?: Record<string, string | number>; requests?: Record<string, string | number> };
  lifecycle?: unknown;
}
interface PodTemplate { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; serviceAccountName?: string; terminationGracePeriodSeconds?: number } }

type Validatable = new (data?: any) => { validate(): void };
/** Core kinds and the kubernetes-models class that validates each. */
const CORE_MODELS: Record<string, Validatable> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};
const CRD_KINDS = new Set(['monitoring.coreos.com/v1/ServiceMonitor', 'monitoring.coreos.com/v1/PrometheusRule', 'keda.sh/v1alpha1/ScaledObject']);
const key = (o: K8sObject): string => `${o.apiVersion}/${o.kind}`;

// ---- env var names the config readers read --------------------------------------------------
const CONFIG_READERS = [
  'producer-api/settings/config.ts',
  'worker/config.ts',
  'worker/gpu/gpu-config.ts',
  'scheduler/config.ts',
  'store/redis-config.ts',
  'protocol/logger.ts', // LOG_LEVEL
  ...(existsSync(join(root, 'scheduler/actuators')) ? ['scheduler/actuators/factory.ts', 'scheduler/actuators/kubernetes.ts', 'scheduler/actuators/metric.ts'] : []),
].filter((f) => existsSync(join(root, f)));
const readEnvNames = (): Set<string> => {
  const names = new Set<string>();
  for (const file of CONFIG_READERS) {
    const src = read(file);
    for (const m of src.matchAll(/['"`]([A-Z][A-Z0-9_]*_[A-Z0-9_]+|HOST|PORT)['"`]/g)) names.add(m[1]!);
    for (const m of src.matchAll(/env\.([A-Z][A-Z0-9_]+)/g)) names.add(m[1]!);
  }
  return names;
};

const durationSeconds = (v: string): number => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new Error(`not a duration: ${v}`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n / 1000 : m[2] === 'm' ? n * 60 : n;
};

// ---- rendering --------------------------------------------------------------------------------
const rendered = new Map<string, K8sObject[]>();

async function render(overlay: string): Promise<K8sObject[]> {
  const { stdout } = await promisify(execFile)(KUBECTL, ['kustomize', join(root, 'k8s/overlays', overlay)], { maxBuffer: 16 * 1024 * 1024 });
  const docs = parseAllDocuments(stdout);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${overlay}: YAML error ${doc.errors[0]!.message}`);
    const o = doc.toJS() as K8sObject | null;
    if (o) objects.push(o);
  }
  return objects;
}

beforeAll(async () => {
  try {
    execFileSync(KUBECTL, ['version', '--client'], { stdio: 'pipe' });
  } catch {
    throw new Error(
      `kubectl not found (tried "${KUBECTL}"): test/deploy-k8s.test.ts renders k8s/ with \`kubectl kustomize\`. ` +
        'Install kubectl (1.27+, with kustomize built in) or set KUBECTL to its path.',
    );
  }
  for (const overlay of OVERLAYS) rendered.set(overlay, await render(overlay));
});

const objectsOf = (overlay: string): K8sObject[] => rendered.get(overlay)!;
const find = (objs: K8sObject[], kind: string, name: string): K8sObject | undefined => objs.find((o) => o.kind === kind && o.metadata.name === name);
const podTemplates = (objs: K8sObject[]): { owner: K8sObject; template: PodTemplate }[] =>
  objs.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet').map((owner) => ({ owner, template: owner.spec.template as PodTemplate }));
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const envOf = (c: Container, name: string): EnvVar | undefined => c.env?.find((e) => e.name === name);
const container = (objs: K8sObject[], deployment: string, name: string): Container => {
  const d = find(objs, 'Deployment', deployment);
  expect(d, `Deployment ${deployment}`).toBeDefined();
  const c = (d!.spec.template as PodTemplate).spec.containers.find((x) => x.name === name);
  expect(c, `container ${name} in ${deployment}`).toBeDefined();
  return c!;
};

describe('kubernetes-models validation is live', () => {
  it('rejects a malformed Deployment', () => {
    const bad = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'two', selector: {}, template: {} } };
    expect(() => new Deployment(bad as never).validate()).toThrow();
  });
});

describe.each(OVERLAYS)('k8s/overlays/%s', (overlay) => {
  it('renders objects, all in the inference-fabric namespace', () => {
    const objs = objectsOf(overlay);
    expect(objs.length).toBeGreaterThan(10);
    for (const o of objs) {
      if (o.kind === 'Namespace') expect(o.metadata.name).toBe(NAMESPACE);
      else expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NAMESPACE);
    }
    const names = objs.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(names).size, 'duplicate objects').toBe(names.length);
  });

  it('every core object validates against the Kubernetes OpenAPI schema (kubernetes-models)', () => {
    for (const o of objectsOf(overlay)) {
      const Model = CORE_MODELS[key(o)];
      if (!Model) {
        expect(CRD_KINDS.has(key(o)), `no validator for ${key(o)} (${o.metadata.name})`).toBe(true);
        continue;
      }
      expect(() => new Model(o).validate(), `${key(o)} ${o.metadata.name}`).not.toThrow();
    }
  });

  it('Service selectors match a pod template and targetPorts name real container ports', () => {
    const objs = objectsOf(overlay);
    const pods = podTemplates(objs);
    for (const svc of objs.filter((o) => o.kind === 'Service')) {
      const selector = svc.spec.selector as Record<string, string>;
      expect(selector && Object.keys(selector).length, `Service ${svc.metadata.name} has a selector`).toBeTruthy();
      const selected = pods.filter((p) => matches(selector, p.template.metadata.labels));
      expect(selected.length, `Service ${svc.metadata.name} selects a pod template`).toBeGreaterThan(0);
      const ports = selected.flatMap((p) => p.template.spec.containers.flatMap((c) => c.ports ?? []));
      for (const port of svc.spec.ports as { name?: string; port: number; targetPort?: string | number }[]) {
        const target = port.targetPort ?? port.port;
        const hit = typeof target === 'string' ? ports.some((p) => p.name === target) : ports.some((p) => p.containerPort === target);
        expect(hit, `Service ${svc.metadata.name} port ${port.name ?? port.port} -> ${target}`).toBe(true);
      }
    }
  });

  it('selectors of Deployments, StatefulSets and the PDB match their pods; HPA and StatefulSet targets exist', () => {
    const objs = objectsOf(overlay);
    for (const { owner, template } of podTemplates(objs)) {
      expect(matches(owner.spec.selector.matchLabels, template.metadata.labels), `${owner.kind} ${owner.metadata.name}`).toBe(true);
    }
    for (const pdb of objs.filter((o) => o.kind === 'PodDisruptionBudget')) {
      expect(podTemplates(objs).some((p) => matches(pdb.spec.selector.matchLabels, p.template.metadata.labels)), `PDB ${pdb.metadata.name}`).toBe(true);
    }
    for (const hpa of objs.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
      const target = find(objs, hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name);
      expect(target, `HPA ${hpa.metadata.name} target`).toBeDefined();
      // CPU utilisation needs CPU requests on every container.
      for (const c of (target!.spec.template as PodTemplate).spec.containers) expect(c.resources?.requests?.cpu, `${c.name} cpu request`).toBeDefined();
    }
    for (const sts of objs.filter((o) => o.kind === 'StatefulSet')) {
      const svc = find(objs, 'Service', sts.spec.serviceName);
      expect(svc?.spec.clusterIP, `StatefulSet ${sts.metadata.name} headless Service`).toBe('None');
    }
  });

  it('probes point at declared container ports', () => {
    for (const { owner, template } of podTemplates(objectsOf(overlay))) {
      for (const c of template.spec.containers) {
        for (const probe of [c.readinessProbe, c.livenessProbe]) {
          if (!probe) continue;
          const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
          if (port === undefined) continue;
          const ok = typeof port === 'string' ? (c.ports ?? []).some((p) => p.name === port) : (c.ports ?? []).some((p) => p.containerPort === port);
          expect(ok, `${owner.metadata.name}/${c.name} probe port ${port}`).toBe(true);
        }
      }
    }
  });

  it('our containers run real entry points and set only env vars the config readers read', () => {
    const known = readEnvNames();
    expect(known.has('FABRIC_K8S_DEPLOYMENT') && known.has('REDIS_URL')).toBe(true);
    for (const { owner, template } of podTemplates(objectsOf(overlay))) {
      for (const c of template.spec.containers.filter((x) => [OUR_IMAGE, GPU_IMAGE].includes(x.image.split(':')[0]!))) {
        expect(c.command).toHaveLength(2);
        expect(c.command?.[0]).toBe('node');
        expect(existsSync(join(root, c.command![1]!)), `${owner.metadata.name}/${c.name} entry ${c.command![1]}`).toBe(true);
        // In the GPU image, OLLAMA_* variables other than ours reach `ollama serve`, the worker's child.
        for (const e of c.env ?? []) {
          if (c.image.startsWith(GPU_IMAGE) && e.name.startsWith('OLLAMA_') && !known.has(e.name)) continue;
          expect(known.has(e.name), `${owner.metadata.name}/${c.name} env ${e.name} is read by no config reader`).toBe(true);
        }
      }
    }
  });

  it('Redis persists and never evicts', () => {
    const sts = find(objectsOf(overlay), 'StatefulSet', 'fabric-redis')!;
    const c = (sts.spec.template as PodTemplate).spec.containers[0]!;
    expect(c.image).toBe('redis:7');
    expect(c.args?.join(' ')).toContain('--appendonly yes');
    expect(c.args?.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(sts.spec.volumeClaimTemplates.length).toBe(1);
  });

  it('the worker pods: one container per pool that owns the GPU, supervises Ollama, reads NVML itself (no configured VRAM) and is probed', () => {
    const objs = objectsOf(overlay);
    for (const name of WORKER_POOLS) {
      const worker = find(objs, 'Deployment', name)!;
      const template = worker.spec.template as PodTemplate;
      expect(template.spec.containers.map((c) => c.name)).toEqual(['worker']);
      const c = container(objs, name, 'worker');
      expect(c.image.split(':')[0]).toBe(GPU_IMAGE);
      expect(String(c.resources?.limits?.['nvidia.com/gpu'])).toBe('1');
      expect(envOf(c, 'FABRIC_ENGINE')?.value).toBe('ollama');
      expect(envOf(c, 'FABRIC_OLLAMA_SERVE')?.value).toBe('1');
      expect(envOf(c, 'OLLAMA_NUM_PARALLEL')?.value).toBe(envOf(c, 'FABRIC_SLOTS')?.value);
      const port = c.ports!.find((p) => p.name === 'ollama')!.containerPort;
      expect(envOf(c, 'OLLAMA_URL')?.value).toBe(`http://127.0.0.1:${port}`);
      // The GPU is this container's: no fixed memory budget and no switched-off GPU reader.
      expect(envOf(c, 'FABRIC_VRAM_BYTES')).toBeUndefined();
      expect(envOf(c, 'FABRIC_GPU_READER')).toBeUndefined();
      expect(envOf(c, 'FABRIC_WORKER_POOL')?.value).toBe(name.replace('fabric-worker-', ''));
      expect(envOf(c, 'FABRIC_WORKER_ID')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
      for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) expect(probe?.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
      const probePort = c.ports!.find((p) => p.name === 'http')!.containerPort;
      expect(String(probePort)).toBe(envOf(c, 'FABRIC_WORKER_PORT')?.value);
      const drain = durationSeconds(envOf(c, 'FABRIC_DRAIN_TIMEOUT')?.value ?? '60s');
      expect(template.spec.terminationGracePeriodSeconds).toBeGreaterThan(drain);
      const pdb = objs.find((o) => o.kind === 'PodDisruptionBudget' && matches(o.spec.selector.matchLabels, template.metadata.labels));
      expect(pdb, `a PodDisruptionBudget covers ${name}`).toBeDefined();
    }
  });

  it('every container of every workload has readiness and liveness probes', () => {
    for (const { owner, template } of podTemplates(objectsOf(overlay))) {
      for (const c of template.spec.containers) {
        expect(c.readinessProbe, `${owner.metadata.name}/${c.name} readinessProbe`).toBeDefined();
        expect(c.livenessProbe, `${owner.metadata.name}/${c.name} livenessProbe`).toBeDefined();
      }
    }
  });

  it('the scheduler knows the pools the Deployments run (with KEDA, one metric: no pools)', () => {
    const objs = objectsOf(overlay);
    const sched = container(objs, 'fabric-scheduler', 'scheduler');
    if (overlay === 'keda') return expect(envOf(sched, 'FABRIC_WORKER_POOLS')).toBeUndefined();
    const pools = parsePools(envOf(sched, 'FABRIC_WORKER_POOLS')!.value!);
    const template = envOf(sched, 'FABRIC_K8S_POOL_DEPLOYMENT')!.value!;
    expect(pools.map((p) => template.replace('{pool}', p.name)).sort()).toEqual([...WORKER_POOLS].sort());
    for (const p of pools) {
      const c = container(objs, template.replace('{pool}', p.name), 'worker');
      expect(envOf(c, 'FABRIC_WORKER_POOL')?.value).toBe(p.name);
    }
  });

  it('the scheduler runs two replicas and its ServiceAccount exists', () => {
    const objs = objectsOf(overlay);
    const sched = find(objs, 'Deployment', 'fabric-scheduler')!;
    expect(sched.spec.replicas).toBe(2);
    const sa = (sched.spec.template as PodTemplate).spec.serviceAccountName;
    expect(find(objs, 'ServiceAccount', sa!)).toBeDefined();
    const svc = find(objs, 'Service', 'fabric-scheduler')!;
    expect((svc.spec.ports as { port: number }[]).map((p) => p.port)).toContain(9092);
  });

  it('the ServiceMonitor selects our Services by a port they have', () => {
    const objs = objectsOf(overlay);
    const sm = objs.find((o) => o.kind === 'ServiceMonitor')!;
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    const selected = objs.filter((o) => o.kind === 'Service' && matches(sm.spec.selector.matchLabels, o.metadata.labels));
    expect(selected.map((s) => s.metadata.name).sort()).toEqual(['fabric-api', 'fabric-scheduler', 'fabric-worker']);
    expect(sm.spec.endpoints.length).toBeGreaterThan(0);
    for (const ep of sm.spec.endpoints as { port: string; path?: string }[]) {
      expect(ep.path ?? '/metrics').toBe('/metrics');
      for (const svc of selected) expect((svc.spec.ports as { name?: string }[]).some((p) => p.name === ep.port), `${svc.metadata.name} port ${ep.port}`).toBe(true);
    }
  });

  it('the PrometheusRule groups equal deploy/prometheus/alerts.yml', () => {
    const rule = objectsOf(overlay).find((o) => o.kind === 'PrometheusRule')!;
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    const alerts = parse(read('deploy/prometheus/alerts.yml')) as { groups: unknown[] };
    expect(rule.spec.groups, 'k8s/base/monitoring.yaml is out of sync with deploy/prometheus/alerts.yml').toEqual(alerts.groups);
  });

  it('the Grafana dashboard ConfigMap carries k8s/base/grafana/fabric.json verbatim, labelled for the sidecar', () => {
    const cm = objectsOf(overlay).find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'fabric-grafana-dashboard');
    expect(cm, 'ConfigMap fabric-grafana-dashboard (configMapGenerator in k8s/base/kustomization.yaml)').toBeDefined();
    expect(cm!.metadata.namespace).toBe(NAMESPACE);
    expect(cm!.metadata.labels?.grafana_dashboard).toBe('1');
    expect(cm!.data).toEqual({ 'fabric.json': read('k8s/base/grafana/fabric.json') });
  });
});

describe('scaling the workers', () => {
  it('default: the scheduler patches each pool’s Deployment and annotates pods, and the Role allows exactly that', () => {
    const objs = objectsOf('default');
    const sched = container(objs, 'fabric-scheduler', 'scheduler');
    expect(envOf(sched, 'FABRIC_SCALE_ACTUATOR')?.value).toBe('kubernetes');
    for (const name of WORKER_POOLS) expect(find(objs, 'Deployment', name)).toBeDefined();
    const roles = objs.filter((o) => o.kind === 'Role');
    expect(roles.length).toBe(1);
    const rules = roles[0]!.rules as { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
    expect(rules).toEqual([
      { apiGroups: ['apps'], resources: ['deployments/scale'], resourceNames: WORKER_POOLS, verbs: ['get', 'patch'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['patch'] },
    ]);
    for (const name of rules.flatMap((r) => r.resourceNames ?? [])) expect(find(objs, 'Deployment', name), `Role names Deployment ${name}`).toBeDefined();
    const binding = objs.find((o) => o.kind === 'RoleBinding')! as K8sObject & { roleRef: { kind: string; name: string }; subjects: { kind: string; name: string }[] };
    expect(find(objs, binding.roleRef.kind, binding.roleRef.name)).toBeDefined();
    const sa = (find(objs, 'Deployment', 'fabric-scheduler')!.spec.template as PodTemplate).spec.serviceAccountName;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: sa, namespace: NAMESPACE }]);
  });

  it('keda: the scheduler only publishes the metric, KEDA scales the small pool from /v1/scale', () => {
    const objs = objectsOf('keda');
    const sched = container(objs, 'fabric-scheduler', 'scheduler');
    expect(envOf(sched, 'FABRIC_SCALE_ACTUATOR')?.value).toBe('metric');
    expect(objs.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding')).toEqual([]);
    const so = objs.find((o) => o.kind === 'ScaledObject')!;
    expect(so.apiVersion).toBe('keda.sh/v1alpha1');
    expect(so.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'fabric-worker-small' });
    expect(envOf(sched, 'FABRIC_WORKER_POOLS')).toBeUndefined();
    expect(find(objs, 'Deployment', so.spec.scaleTargetRef.name)).toBeDefined();
    expect(so.spec.minReplicaCount).toBeLessThanOrEqual(so.spec.maxReplicaCount);
    const trigger = (so.spec.triggers as { type: string; metadata: Record<string, string> }[])[0]!;
    expect(trigger.type).toBe('metrics-api');
    expect(trigger.metadata).toMatchObject({ valueLocation: 'desiredWorkers', targetValue: '1' });
    const url = new URL(trigger.metadata.url!);
    expect(url.pathname).toBe('/v1/scale');
    const [svcName, ns] = url.hostname.split('.');
    expect(ns).toBe(NAMESPACE);
    const svc = find(objs, 'Service', svcName!)!;
    expect(svc, `Service ${svcName}`).toBeDefined();
    expect((svc.spec.ports as { port: number }[]).some((p) => p.port === Number(url.port))).toBe(true);
    expect(matches(svc.spec.selector, (find(objs, 'Deployment', 'fabric-scheduler')!.spec.template as PodTemplate).metadata.labels)).toBe(true);
    expect(envOf(sched, 'FABRIC_SCHEDULER_PORT')?.value).toBe(url.port);
  });
});
