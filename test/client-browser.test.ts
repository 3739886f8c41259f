/**
 * The client package in a real browser: its tsc build and its declared dependencies, loaded as
 * plain ES modules through an import map in headless Chromium, submit a job, stream tokens and
 * read an error from a real fabric. The page and the API share one origin (the fabric.test
 * host, answered by Playwright's routing: files from disk, API calls forwarded to the fabric),
 * as when the client is served by the same host as the API. Needs Debian's chromium at
 * /usr/bin/chromium and `playwright-core`; it fails (never skips) when they are missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startFabric, type TestFabric } from './support/fabric.ts';

const CHROMIUM = '/usr/bin/chromium';
const ORIGIN = 'http://fabric.test';
const root = resolve(import.meta.dirname, '..');

const PAGE = `<!doctype html>
<script type="importmap">
{ "imports": {
  "@inference-fabric/client": "/files/client/index.js",
  "cockatiel": "/files/node_modules/cockatiel/dist/index.js",
  "eventsource-parser": "/files/node_modules/eventsource-parser/dist/index.js",
  "eventsource-parser/stream": "/files/node_modules/eventsource-parser/dist/stream.js"
} }
</script>
<script type="module">
import { FabricClient, FabricError, HTTP_ERROR_CODES } from '@inference-fabric/client';
try {
  const client = new FabricClient({ baseUrl: location.origin });
  const done = await client.generate({ model: 'fake-small', prompt: 'browser', options: { num_predict: 5 } });
  const tokens = [];
  for await (const t of client.generate({ model: 'fake-small', prompt: 'stream', stream: true, options: { num_predict: 4 } })) tokens.push(t);
  let err = null;
  try { await client.jobs.get('job_missing'); } catch (e) { err = { fabric: e instanceof FabricError, code: e.code, status: e.status, retryable: e.retryable }; }
  window.result = { text: done.text, status: done.job.status, tokens, err, codes: HTTP_ERROR_CODES.length };
} catch (e) {
  window.result = { failed: String(e && e.stack || e) };
}
</script>`;

let f: TestFabric | undefined;
let dist: string | undefined;
let browser: import('playwright-core').Browser | undefined;
afterAll(async () => {
  await browser?.close();
  await f?.close();
  if (dist) rmSync(dist, { recursive: true, force: true });
});

describe('client package in a browser', () => {
  it('runs from its build and its declared dependencies in headless Chromium against a real fabric', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (.ci/run does)`);
    const pw = await import('playwright-core');
    dist = mkdtempSync(join(tmpdir(), 'fabric-client-browser-'));
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'client/tsconfig.json'), '--outDir', dist], { stdio: 'pipe' });
    const manifest = JSON.parse(readFileSync(join(root, 'client/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['cockatiel', 'eventsource-parser']);

    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const api = f.url;
    browser = await pw.chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // The 404 the page asks for on purpose is logged as a failed resource load; anything else counts.
    page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && pageErrors.push(m.text()));
    await page.route(`${ORIGIN}/**`, async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: PAGE });
      if (url.pathname.startsWith('/files/')) {
        const rel = normalize(url.pathname.slice('/files/'.length));
        const file = rel.startsWith('client/') ? join(dist!, rel.slice('client/'.length)) : join(root, rel);
        if (rel.startsWith('..') || !existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
        const type = extname(file) === '.js' ? 'text/javascript' : 'application/octet-stream';
        return route.fulfill({ contentType: type, body: readFileSync(file) });
      }
      const response = await route.fetch({ url: `${api}${url.pathname}${url.search}` });
      return route.fulfill({ response });
    });
    await page.goto(`${ORIGIN}/`);
    await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 30_000 });
    const result = await page.evaluate(() => (window as unknown as { result: any }).result);
    expect(pageErrors).toEqual([]);
    expect(result.failed).toBeUndefined();
    expect(result.status).toBe('succeeded');
    expect(result.text.trim().split(/\s+/)).toHaveLength(5);
    expect(result.tokens.join('').trim().split(/\s+/)).toHaveLength(4);
    expect(result.err).toEqual({ fabric: true, code: 'job_not_found', status: 404, retryable: false });
    expect(result.codes).toBeGreaterThan(10);
  }, 60_000);
});
