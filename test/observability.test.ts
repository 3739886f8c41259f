/**
 * The Prometheus alert rules (deploy/prometheus/) and the Grafana dashboard (k8s/base/grafana/) query only metrics the fabric
 * actually exports: every metric name in every PromQL expression must be registered on the fabric's
 * shared registry (API, worker and scheduler metrics) and appear with a HELP line in a real
 * fabric's /metrics after a job has run. `promtool check rules`/`check config` run when promtool
 * is installed (Debian's `prometheus` package), on the alerts and on the dashboard's queries.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { registry } from '../protocol/metrics.ts';
// Imported for their side effect: they register the scheduler's metrics on the shared registry.
import '../scheduler/metrics.ts';
import '../scheduler/actuators/scale-actuator.ts';
import { call, startFabric, type TestFabric } from './support/fabric.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ALERTS = join(root, 'deploy/prometheus/alerts.yml');
const PROM_CONFIG = join(root, 'deploy/prometheus/prometheus.yml');
const DASHBOARD = join(root, 'k8s/base/grafana/fabric.json');
const DATASOURCES = join(root, 'deploy/grafana/provisioning/datasources/prometheus.yml');

/**
 * Metrics an alert or panel may name although the fabric does not export them yet. Each entry
 * says which change adds it; the test fails once the metric exists, so the entry gets removed.
 */
const PENDING: Record<string, string> = {};

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * Metric names in a PromQL expression. Drops strings, Grafana variables, label matchers, range and
 * subquery selectors, grouping label lists and function calls; the identifiers left are metric names.
 */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/#[^\n]*/g, ' ') // comments
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // string literals
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_:]*\}?/g, ' ') // $__rate_interval, ${DS_PROMETHEUS}
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // [5m], [1h:1m]
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // grouping and matching clauses
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const id = m[1]!;
    if (m[2] || PROMQL_WORDS.has(id.toLowerCase())) continue; // a function call, or an operator word
    names.add(id);
  }
  return [...names];
}

interface Query {
  where: string;
  expr: string;
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function alertRules(): Rule[] {
  const doc = parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

function alertQueries(): Query[] {
  return alertRules().map((r) => ({ where: `alert ${r.alert ?? r.record}`, expr: String(r.expr) }));
}

function dashboardQueries(): Query[] {
  const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as any;
  const out: Query[] = [];
  const walk = (panels: any[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q: string = typeof v.query === 'string' ? v.query : v.query?.query ?? '';
    // label_values(metric, label): the metric selector is the first argument.
    const lv = /^label_values\(\s*([^,)]+)/.exec(q);
    out.push({ where: `variable $${v.name}`, expr: lv ? lv[1]! : q });
  }
  return out;
}

/** Names with a HELP line in a Prometheus text exposition. */
function helpNames(text: string): Set<string> {
  return new Set([...text.matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]!));
}

/** The metric a series name comes from (a histogram's _bucket, _sum and _count). */
function baseName(name: string, histograms: Set<string>): string {
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m && histograms.has(m[1]!) ? m[1]! : name;
}

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

describe('PromQL metric extraction', () => {
  it('finds the metric names and nothing else', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (model, le) (rate(fabric_model_load_seconds_bucket{model=~"$model"}[$__rate_interval]))) > 5')).toEqual([
      'fabric_model_load_seconds_bucket',
    ]);
    expect(
      metricNames('max by (model) (fabric_queue_depth{state="waiting"}) > 0 unless on (model) sum by (model) (increase(fabric_job_queue_wait_seconds_count[1m])) > 0').sort(),
    ).toEqual(['fabric_job_queue_wait_seconds_count', 'fabric_queue_depth']);
    expect(metricNames('max(fabric_scheduler_leader) == 0 or absent(fabric_scheduler_leader)')).toEqual(['fabric_scheduler_leader']);
    expect(metricNames('a / on (x) group_left (y) b{c="d or e"} offset 5m')).toEqual(['a', 'b']);
    expect(metricNames('rate(x_total[5m:1m]) > bool 1e3')).toEqual(['x_total']);
  });
});

describe('alert rules and dashboard', () => {
  let f: TestFabric;
  let exposition = '';

  beforeAll(async () => {
    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const r = await call(f.url, '/v1/run', {
      body: { model: 'fake-small', task: 'chat', input: { messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 2 } } },
    });
    expect(r.status).toBe(200);
    expect(r.json.status).toBe('succeeded');
    const m = await call(f.url, '/metrics');
    expect(m.status).toBe(200);
    exposition = m.text;
  });
  afterAll(async () => f?.close());

  it('has an alert for every failure the deployment watches, each with a severity, summary and runbook', () => {
    const rules = alertRules();
    const names = rules.map((r) => r.alert);
    expect(names).toEqual(
      expect.arrayContaining([
        'FabricGpuMemoryHigh',
        'FabricJobErrorRateHigh',
        'FabricModelLoadSlow',
        'FabricQueueDepthHigh',
        'FabricNoWorkerAlive',
        'FabricWorkerHeartbeatsStopped',
        'FabricSchedulerNoLeader',
        'FabricModelWaitingWithoutReplica',
        'FabricWebhookDeliveriesFailing',
      ]),
    );
    expect(new Set(names).size).toBe(names.length);
    for (const r of rules) {
      expect(['critical', 'warning', 'info'], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
      expect(r.annotations?.runbook, r.alert).toMatch(/docs\/operations\.md#/);
    }
  });

  it('queries only metrics the fabric exports, and leaves none of its metrics unwatched', async () => {
    const json = (await registry.getMetricsAsJSON()) as unknown as { name: string; type: string }[];
    const registered = new Set(json.map((m) => m.name));
    const histograms = new Set(json.filter((m) => m.type === 'histogram').map((m) => m.name));
    const inExposition = helpNames(exposition);
    // In-process the scheduler's metrics share the API's registry, so the API's /metrics shows them too.
    for (const name of ['fabric_scheduler_decisions_total', 'fabric_scheduler_leader', 'fabric_desired_workers']) {
      expect(inExposition.has(name), `${name} in /metrics`).toBe(true);
    }

    const queries = [...alertQueries(), ...dashboardQueries()];
    expect(queries.length).toBeGreaterThan(20);
    const unknown: string[] = [];
    const used = new Set<string>();
    for (const q of queries) {
      const names = metricNames(q.expr);
      expect(names.length, `${q.where}: no metric in ${q.expr}`).toBeGreaterThan(0);
      for (const n of names) {
        const base = baseName(n, histograms);
        used.add(base);
        if (PENDING[base]) continue;
        if (!registered.has(base) || !inExposition.has(base)) unknown.push(`${q.where}: ${n}`);
      }
    }
    expect(unknown, 'metrics queried but not exported').toEqual([]);
    for (const name of Object.keys(PENDING)) expect(registered.has(name), `${name} is exported now: remove it from PENDING`).toBe(false);
    const unwatched = [...registered].filter((n) => n.startsWith('fabric_') && !n.startsWith('fabric_process_') && !used.has(n));
    expect(unwatched, 'fabric metrics that no panel or alert uses').toEqual([]);
  });

  it('labels queue depth and job starts with the same model names (the waiting-without-progress alert joins them)', () => {
    const labelValues = (metric: string) =>
      new Set([...exposition.matchAll(new RegExp(`^${metric}\\{[^}]*model="([^"]+)"`, 'gm'))].map((m) => m[1]!));
    const depth = labelValues('fabric_queue_depth');
    const started = labelValues('fabric_job_queue_wait_seconds_count');
    expect(started.size).toBeGreaterThan(0);
    for (const model of started) expect([...depth], `model "${model}" in fabric_queue_depth`).toContain(model);
  });

  it('is a provisionable Grafana dashboard on the provisioned Prometheus datasource', () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as any;
    expect(dash.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dash.uid).toBe('inference-fabric');
    const ds = dash.templating.list.find((v: any) => v.name === 'DS_PROMETHEUS');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const provisioned = parseYaml(readFileSync(DATASOURCES, 'utf8')) as { datasources: { uid: string; type: string }[] };
    expect(provisioned.datasources.find((d) => d.uid === ds.current.value)?.type).toBe('prometheus');
    const ids = new Set<number>();
    const walk = (panels: any[] | undefined) => {
      for (const p of panels ?? []) {
        expect(ids.has(p.id), `duplicate panel id ${p.id}`).toBe(false);
        ids.add(p.id);
        if (p.type !== 'row') expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
        walk(p.panels);
      }
    };
    walk(dash.panels);
  });

  it.skipIf(!promtool)('passes promtool check rules and check config', () => {
    const rules = spawnSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect(rules.status, rules.stdout + rules.stderr).toBe(0);
    const config = spawnSync('promtool', ['check', 'config', PROM_CONFIG], { encoding: 'utf8' });
    expect(config.status, config.stdout + config.stderr).toBe(0);
  });

  it.skipIf(!promtool)('has panel queries that parse as PromQL (promtool checks them as recording rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fabric-dash-'));
    try {
      const rules = dashboardQueries().map((q, i) => ({
        record: `dashboard:query_${i}`,
        // Grafana's variables, substituted as Grafana would.
        expr: q.expr.replaceAll('$__rate_interval', '1m').replaceAll('$model', '.*'),
      }));
      const file = join(dir, 'dashboard-rules.yml');
      writeFileSync(file, stringifyYaml({ groups: [{ name: 'dashboard', rules }] }));
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      expect(r.status, r.stdout + r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
