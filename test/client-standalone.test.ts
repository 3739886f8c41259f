/**
 * The client package stands alone: it builds with tsc, and a script outside the project tree
 * that has only the built package and its declared dependencies imports it and talks to a
 * real fabric from plain Node.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFabric, type TestFabric } from './support/fabric.ts';

const root = resolve(import.meta.dirname, '..');
let f: TestFabric | undefined;
let dir: string | undefined;
afterEach(async () => {
  await f?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  f = dir = undefined;
});

const SCRIPT = `
import { FabricClient, FabricError, HTTP_ERROR_CODES, verifyWebhook } from '@inference-fabric/client';
const client = new FabricClient({ baseUrl: process.env.FABRIC_URL });
const done = await client.generate({ model: 'fake-small', prompt: 'standalone', options: { num_predict: 5 } });
const tokens = [];
for await (const t of client.generate({ model: 'fake-small', prompt: 'stream', stream: true, options: { num_predict: 4 } })) tokens.push(t);
let err = null;
try { await client.jobs.get('job_missing'); } catch (e) { err = { fabric: e instanceof FabricError, code: e.code, status: e.status, retryable: e.retryable }; }
console.log(JSON.stringify({ text: done.text, status: done.job.status, tokens, err, codes: HTTP_ERROR_CODES.length, verify: typeof verifyWebhook }));
`;

describe('client package', () => {
  it('builds with tsc and runs from client/dist in a Node process outside the project, with only its declared dependencies', async () => {
    dir = mkdtempSync(join(tmpdir(), 'fabric-client-'));
    const pkgDir = join(dir, 'node_modules', '@inference-fabric', 'client');
    mkdirSync(pkgDir, { recursive: true });
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'client/tsconfig.json'), '--outDir', join(pkgDir, 'dist')], { stdio: 'pipe' });
    const manifest = JSON.parse(readFileSync(join(root, 'client/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    cpSync(join(root, 'client/package.json'), join(pkgDir, 'package.json'));
    for (const dep of Object.keys(manifest.dependencies)) cpSync(join(root, 'node_modules', dep), join(dir, 'node_modules', dep), { recursive: true, dereference: true });

    const built = readdirSync(join(pkgDir, 'dist'));
    expect(built).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'error-codes.d.ts']));
    for (const file of built.filter((n) => n.endsWith('.js'))) {
      expect(readFileSync(join(pkgDir, 'dist', file), 'utf8'), `${file} imports a Node built-in`).not.toMatch(/from ['"](node:|fs|http|crypto|stream)['"]/);
    }
    expect(existsSync(join(dir, 'node_modules', 'bullmq'))).toBe(false);

    f = await startFabric();
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    writeFileSync(join(dir, 'script.mjs'), SCRIPT);
    // Each Node the package supports: the one running the tests, plus those listed in
    // FABRIC_TEST_NODES (paths to node binaries, `:`-separated; .ci/run lists Node 22).
    const nodes = [process.execPath, ...(process.env.FABRIC_TEST_NODES ?? '').split(':').filter(Boolean)];
    for (const node of nodes) {
      const { stdout: version } = await promisify(execFile)(node, ['--version'], { encoding: 'utf8' });
      // Asynchronously: the fabric it talks to runs in this process.
      const { stdout: out } = await promisify(execFile)(node, ['script.mjs'], { cwd: dir, env: { PATH: process.env.PATH, FABRIC_URL: f.url }, encoding: 'utf8', timeout: 30_000 });
      const result = JSON.parse(out.trim().split('\n').at(-1)!);
      console.log(`client package ran on Node ${version.trim()}`);
      expect(result.status, `on Node ${version.trim()}`).toBe('succeeded');
      expect(result.text.trim().split(/\s+/)).toHaveLength(5);
      expect(result.tokens.join('').trim().split(/\s+/)).toHaveLength(4);
      expect(result.err).toEqual({ fabric: true, code: 'job_not_found', status: 404, retryable: false });
      expect(result.codes).toBeGreaterThan(10);
      expect(result.verify).toBe('function');
    }
  }, 60_000);
});
