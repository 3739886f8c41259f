/**
 * deploy/prometheus/alerts.yml against a real Prometheus (Debian's `prometheus` package): an
 * in-process fabric runs a couple of jobs, a Prometheus scrapes its /metrics every second with
 * the alert rules loaded, and then every alert's expression must evaluate without error through
 * /api/v1/query and every rule must report health "ok" in /api/v1/rules.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
// Imported for their side effect: they register the scheduler's metrics on the shared registry.
import '../scheduler/metrics.ts';
import '../scheduler/actuators/scale-actuator.ts';
import { freePort } from '../bin/redis-server.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ALERTS = join(root, 'deploy/prometheus/alerts.yml');
const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';

interface AlertRule {
  alert: string;
  expr: string;
}

function alertRules(): AlertRule[] {
  const doc = parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: { rules: Partial<AlertRule>[] }[] };
  return doc.groups.flatMap((g) => g.rules).filter((r): r is AlertRule => typeof r.alert === 'string' && typeof r.expr === 'string');
}

describe('alert rules on a real Prometheus', () => {
  let f: TestFabric | undefined;
  let prom: ChildProcess | undefined;
  let promUrl = '';
  let dir = '';
  let promLog = '';

  beforeAll(async () => {
    if (!existsSync(PROMETHEUS)) {
      throw new Error(`${PROMETHEUS} is missing: install Debian's prometheus package (apt-get install prometheus; .ci/run does this when promtool is missing) or set PROMETHEUS`);
    }
    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    for (let i = 0; i < 2; i++) {
      const r = await call(f.url, '/v1/run', {
        body: { model: 'fake-small', task: 'chat', input: { messages: [{ role: 'user', content: `hi ${i}` }], options: { num_predict: 2 } } },
      });
      expect(r.status).toBe(200);
      expect(r.json.status).toBe('succeeded');
    }

    dir = mkdtempSync(join(tmpdir(), 'fabric-prom-'));
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [ALERTS],
      scrape_configs: [{ job_name: 'fabric', metrics_path: '/metrics', scrape_interval: '1s', static_configs: [{ targets: [new URL(f.url).host] }] }],
    };
    writeFileSync(join(dir, 'prometheus.yml'), stringifyYaml(config));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(PROMETHEUS, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer) => {
      promLog = (promLog + b.toString()).slice(-8_000);
    };
    prom.stdout?.on('data', keep);
    prom.stderr?.on('data', keep);

    try {
      await waitFor(async () => {
        if (prom?.exitCode !== null) throw new Error(`prometheus exited with ${prom?.exitCode}`);
        const t = await call(promUrl, '/api/v1/targets').catch(() => undefined);
        const active = (t?.json?.data?.activeTargets ?? []) as { health: string }[];
        return active.some((a) => a.health === 'up');
      }, 12_000, 200);
    } catch (err) {
      throw new Error(`no successful scrape of ${f.url}/metrics: ${(err as Error).message}\n${promLog}`);
    }
  }, 20_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (prom.exitCode === null) prom.kill('SIGKILL');
    }
    await f?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes labelled fabric series', async () => {
    const r = await call(promUrl, `/api/v1/query?query=${encodeURIComponent('fabric_jobs_total{job="fabric"}')}`);
    expect(r.json?.status).toBe('success');
    expect((r.json.data.result as unknown[]).length).toBeGreaterThan(0);
  });

  it('every alert expression evaluates without error', async () => {
    const rules = alertRules();
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      const r = await call(promUrl, `/api/v1/query?query=${encodeURIComponent(rule.expr)}`);
      expect(r.json?.status, `${rule.alert}: ${r.json?.errorType ?? ''} ${r.json?.error ?? r.text}`).toBe('success');
    }
  });

  it('/api/v1/rules lists every alert with health "ok" after an evaluation', async () => {
    const want = alertRules().map((r) => r.alert).sort();
    interface Rule { name: string; type: string; health: string; lastError?: string; lastEvaluation?: string }
    let rules: Rule[] = [];
    await waitFor(async () => {
      const r = await call(promUrl, '/api/v1/rules?type=alert');
      rules = ((r.json?.data?.groups ?? []) as { rules: Rule[] }[]).flatMap((g) => g.rules);
      // Evaluated at least once: lastEvaluation is the zero time before the first evaluation.
      return want.every((name) => rules.some((x) => x.name === name && x.lastEvaluation && !x.lastEvaluation.startsWith('0001-')));
    }, 5_000, 200).catch(() => undefined);
    expect(rules.map((r) => r.name).sort()).toEqual(want);
    for (const r of rules) expect({ name: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ name: r.name, health: 'ok', lastError: '' });
  });
});
