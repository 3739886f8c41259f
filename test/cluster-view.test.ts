/**
 * The cluster view (`/admin/cluster`) and Bull Board (`/admin/queues`) in a real headless
 * Chromium, against an in-process fabric with jobs running. Needs Debian's `chromium` at
 * /usr/bin/chromium and `playwright-core`; it fails (never skips) when they are missing.
 *
 * The screenshot at docs/cluster-view.png is written when it is missing or when
 * UPDATE_SCREENSHOT is set, so a normal run leaves the committed picture alone.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueNameFor } from '../protocol/model-names.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = resolve(dirname(fileURLToPath(import.meta.url)), '../docs/cluster-view.png');
const SMALL = 'fake-small:latest';
const LARGE = 'fake-large:latest';
const MEDIUM = 'fake-medium:latest';
const MODELS = [
  { name: SMALL, sizeBytes: 1_000_000_000 },
  { name: MEDIUM, sizeBytes: 2_500_000_000 },
  { name: LARGE, sizeBytes: 4_000_000_000 },
];

// Loaded lazily so a missing package fails this file with a clear message, not an import error.
type Browser = import('playwright-core').Browser;
let browser: Browser | undefined;
let f: TestFabric | undefined;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: the cluster view test needs Debian's chromium (apt-get install -y chromium; .ci/run installs it)`);
  }
  let pw: typeof import('playwright-core');
  try {
    pw = await import('playwright-core');
  } catch (err) {
    throw new Error(`playwright-core is not installed (a devDependency): ${(err as Error).message}`);
  }
  browser = await pw.chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });

  f = await startFabric();
  const fast = { drainTimeoutMs: 200 };
  // Two workers of different sizes; the first holds two models, the second one.
  await f.addWorker({ models: MODELS, memoryBytes: 8_000_000_000, loadMs: 20, tokensPerSecond: 2, slotsPerModel: 1 }, { ...fast, preload: [SMALL, LARGE] });
  await f.addWorker({ models: MODELS, memoryBytes: 3_000_000_000, loadMs: 20, tokensPerSecond: 2, slotsPerModel: 1 }, { ...fast, preload: [SMALL] });
  // A third whose load takes a minute, so the page shows a model loading (hatched).
  await f.addWorker({ models: MODELS, memoryBytes: 4_000_000_000, loadMs: 60_000, tokensPerSecond: 2, slotsPerModel: 1 }, fast);
  await waitFor(async () => {
    const r = await call(f!.url, '/v1/models');
    const byId = new Map<string, any>(r.json?.data?.map((m: any) => [m.id, m]) ?? []);
    return r.json?.workers?.length === 3 && byId.get(SMALL)?.resident_on.length === 2 && byId.get(LARGE)?.resident_on.length === 1;
  });
  // Only the third worker has room for the medium model, so the operator's load goes there.
  expect((await call(f.url, `/v1/models/${MEDIUM}/load`, { method: 'POST' })).status).toBe(202);
  await waitFor(async () => (await call(f!.url, '/v1/models')).json?.data?.find((m: any) => m.id === MEDIUM)?.loading_on.length === 1);
  // Slow jobs (2 tokens/s, 40 tokens): one runs on each worker's single slot, the rest wait.
  for (let i = 0; i < 5; i++) {
    const r = await call(f.url, '/v1/jobs', { body: { model: SMALL, input: { prompt: `slow ${i}`, options: { num_predict: 40 } } } });
    expect(r.status).toBe(202);
  }
  await waitFor(async () => {
    const r = await call(f!.url, '/v1/models');
    const q = r.json?.data?.find((m: any) => m.id === SMALL)?.queue;
    return q?.active === 2 && q?.waiting === 3;
  });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await f?.close();
});

describe('cluster view in a real browser', () => {
  it('draws every worker with its resident models to scale and a model table that matches /v1/models', async () => {
    const page = await browser!.newPage({ viewport: { width: 1200, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${f!.url}/admin/cluster`);
    await page.locator('[data-testid="worker-bar"]').nth(2).waitFor({ timeout: 5_000 });

    const api = (await call(f!.url, '/v1/models')).json;
    const shown = await page.evaluate(() => ({
      workers: [...document.querySelectorAll<HTMLElement>('[data-testid="worker"]')].map((w) => ({
        id: w.dataset.workerId,
        total: Number(w.querySelector<HTMLElement>('[data-testid="worker-bar"]')!.dataset.totalBytes),
        segments: [...w.querySelectorAll<HTMLElement>('[data-testid="worker-bar"] [data-testid="segment"]')].map((s) => ({
          model: s.dataset.model,
          bytes: Number(s.dataset.bytes),
          state: s.dataset.state,
          widthPct: parseFloat(s.style.width),
          label: s.textContent,
        })),
      })),
      models: [...document.querySelectorAll<HTMLElement>('[data-testid="model-row"]')].map((r) => ({
        id: r.querySelector('[data-testid="model-name"]')!.textContent,
        waiting: Number(r.querySelector('[data-testid="queue-waiting"]')!.textContent),
        active: Number(r.querySelector('[data-testid="queue-active"]')!.textContent),
        replicas: Number(r.querySelector('[data-testid="replicas"]')!.textContent),
      })),
    }));

    // Workers: the same ids, and segments that are exactly the models the API says are resident.
    expect(shown.workers.map((w) => w.id).sort()).toEqual(api.workers.map((w: any) => w.id).sort());
    for (const w of api.workers) {
      const drawn = shown.workers.find((x) => x.id === w.id)!;
      expect(drawn.total).toBe(w.capacity_bytes);
      const resident = api.data.filter((m: any) => m.resident_on.some((r: any) => r.worker === w.id)).map((m: any) => m.id).sort();
      expect(drawn.segments.filter((s) => s.state === 'resident').map((s) => s.model).sort()).toEqual(resident);
      for (const s of drawn.segments) {
        // Drawn to scale: width is the model's share of the worker's memory.
        expect(s.widthPct).toBeCloseTo((s.bytes / w.capacity_bytes) * 100, 1);
        expect(s.label).toContain(s.model);
      }
    }
    // The model that is loading is drawn, hatched, on the worker loading it, and listed as a load in flight.
    const loading = api.data.find((m: any) => m.id === MEDIUM).loading_on[0].worker;
    expect(shown.workers.find((w) => w.id === loading)!.segments).toMatchObject([{ model: MEDIUM, state: 'loading' }]);
    expect(await page.locator('[data-testid="loading-entry"]').allTextContents()).toEqual([expect.stringContaining(MEDIUM)]);
    // The bigger model is drawn wider than the smaller one on the same worker.
    const big = shown.workers.find((w) => w.segments.filter((s) => s.state === 'resident').length === 2)!;
    expect(big.segments.find((s) => s.model === LARGE)!.widthPct).toBeGreaterThan(big.segments.find((s) => s.model === SMALL)!.widthPct * 3);

    // Models table: every catalog model, with the API's queue counts and replica counts.
    expect(shown.models.map((m) => m.id)).toEqual(api.data.map((m: any) => m.id));
    for (const m of api.data) {
      const row = shown.models.find((x) => x.id === m.id)!;
      expect(row).toMatchObject({ waiting: m.queue.waiting, active: m.queue.active, replicas: m.resident_on.length });
    }
    expect(shown.models.find((m) => m.id === SMALL)).toMatchObject({ waiting: 3, active: 2, replicas: 2 });

    // It updates live: a new job raises the waiting count without a reload.
    await call(f!.url, '/v1/jobs', { body: { model: SMALL, input: { prompt: 'one more', options: { num_predict: 40 } } } });
    await page.locator('[data-testid="model-row"][data-model="fake-small:latest"] [data-testid="queue-waiting"]', { hasText: '4' }).waitFor({ timeout: 5_000 });

    if (process.env.UPDATE_SCREENSHOT || !existsSync(SCREENSHOT)) {
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  it('escapes model names and worker ids it renders', async () => {
    const page = await browser!.newPage();
    await page.goto(`${f!.url}/admin/cluster`);
    await page.locator('[data-testid="worker-bar"]').first().waitFor({ timeout: 5_000 });
    // Feed the page's renderer hostile data through its own fetch.
    await page.route('**/admin/cluster/models', (route) =>
      route.fulfill({
        contentType: 'application/json',
        body: JSON.stringify({
          data: [{ id: '<img src=x onerror="window.__pwned=1">', size_bytes: 1e9, footprint: { estimated_bytes: 1e9, measured_bytes: null }, resident_on: [{ worker: '<b>w</b>', size_bytes: 1e9, estimated_bytes: 1e9, active_jobs: 0 }], loading_on: [], queue: { waiting: 0, active: 0 } }],
          workers: [{ id: '<b>w</b>', engine: 'fake', state: 'ready', capacity_bytes: 2e9, used_bytes: 1e9, gpus: [], free_slots: 1, active_jobs: 0, engine_healthy: true }],
        }),
      }),
    );
    await page.locator('[data-testid="model-name"]', { hasText: '<img' }).waitFor({ timeout: 5_000 });
    expect(await page.locator('[data-testid="worker-id"]').first().textContent()).toBe('<b>w</b>');
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
    expect(await page.locator('[data-testid="workers"] img, [data-testid="workers"] b:not(.bad)').count()).toBe(0);
    await page.close();
  });

  it('serves Bull Board at /admin/queues with the model queues', async () => {
    const page = await browser!.newPage();
    await page.goto(`${f!.url}/admin/queues`);
    for (const m of MODELS) await page.getByText(queueNameFor(m.name), { exact: false }).first().waitFor({ timeout: 10_000 });
    await page.close();
  });

  it('works when opened with the admin credentials in the URL, with one unit style, used memory as /v1/models reports it, and per-tenant counts', async () => {
    const g = await startFabric({ adminKey: 'admin-secret', apiKeys: new Map([['key-a', 'team-a'], ['key-b', 'team-b']]) });
    try {
      await g.addWorker({ models: MODELS, memoryBytes: 8_000_000_000, loadMs: 20, tokensPerSecond: 2, slotsPerModel: 1 }, { drainTimeoutMs: 200, preload: [SMALL] });
      const admin = { authorization: 'Bearer admin-secret' };
      await waitFor(async () => (await call(g.url, '/v1/models', { headers: admin })).json?.data?.find((m: any) => m.id === SMALL)?.resident_on.length === 1);
      // team-a: one running (one slot) and two waiting; team-b: one waiting.
      for (const key of ['key-a', 'key-a', 'key-a', 'key-b']) {
        const r = await call(g.url, '/v1/jobs', { body: { model: SMALL, input: { prompt: 'slow', options: { num_predict: 40 } } }, headers: { authorization: `Bearer ${key}` } });
        expect(r.status).toBe(202);
      }
      await waitFor(async () => (await call(g.url, '/v1/models', { headers: admin })).json.data.find((m: any) => m.id === SMALL).queue.active === 1);
      const page = await browser!.newPage({ viewport: { width: 1200, height: 800 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const withCreds = g.url.replace('http://', 'http://ops:admin-secret@');
      await page.goto(`${withCreds}/admin/cluster`);
      await page.locator('[data-testid="tenant-row"][data-tenant="team-b"]').waitFor({ timeout: 5_000 });
      await page.locator('[data-testid="worker-bar"]').first().waitFor({ timeout: 5_000 });
      const shown = await page.evaluate(() => ({
        status: document.getElementById('status')!.className,
        tenants: [...document.querySelectorAll<HTMLElement>('[data-testid="tenant-row"]')].map((r) => ({
          tenant: r.dataset.tenant,
          waiting: Number(r.querySelector('[data-testid="tenant-waiting"]')!.textContent),
          running: Number(r.querySelector('[data-testid="tenant-running"]')!.textContent),
        })),
        used: Number(document.querySelector<HTMLElement>('[data-testid="worker-used"]')!.dataset.bytes),
        text: document.body.innerText,
      }));
      expect(shown.status).toBe('ok');
      expect(shown.tenants).toEqual([
        { tenant: 'team-a', waiting: 2, running: 1 },
        { tenant: 'team-b', waiting: 1, running: 0 },
      ]);
      const api = (await call(g.url, '/v1/models', { headers: admin })).json;
      expect(shown.used).toBe(api.workers[0].used_bytes);
      // One unit style: binary units only.
      expect(shown.text).toMatch(/\d(\.\d)? GiB/);
      expect(shown.text).not.toMatch(/\d (GB|MB|kB)\b/);
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      await g.close();
    }
  });

  it('keeps the page and its data behind the admin key', async () => {
    const g = await startFabric({ adminKey: 'admin-secret', apiKeys: new Map([['tenant-key', 'acme']]) });
    try {
      const basic = { authorization: `Basic ${Buffer.from('ops:admin-secret').toString('base64')}` };
      expect((await call(g.url, '/admin/cluster')).status).toBe(401);
      expect((await call(g.url, '/admin/cluster/models')).status).toBe(401);
      expect((await call(g.url, '/admin/cluster', { headers: { authorization: 'Bearer tenant-key' } })).status).toBe(403);
      const page = await call(g.url, '/admin/cluster', { headers: basic });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      const data = await call(g.url, '/admin/cluster/models', { headers: basic });
      expect(data.status).toBe(200);
      expect(data.json).toMatchObject({ object: 'list', data: [], workers: [] });
    } finally {
      await g.close();
    }
  });
});
