import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Keys } from '../protocol/keys.ts';
import { createLogger } from '../protocol/logger.ts';
import { WebhookDispatcher, deliveryIdFor } from '../store/webhook-enqueue.ts';
import {
  WebhookSecretError,
  generateWebhookSecret,
  parseWebhookSecret,
  signWebhook,
  verifyWebhook,
} from '../protocol/webhook-signing.ts';
import { WebhookDeliveryWorker, readDeliveryLog } from '../producer-api/webhooks/delivery-worker.ts';
import {
  EMPTY_ALLOW_LIST,
  checkWebhookUrl,
  createGuardedAgent,
  isGuardRefusal,
  parseAllowList,
  type AllowList,
  type LookupFn,
} from '../producer-api/webhooks/ssrf-guard.ts';
import { newRedis, testKeys } from './support/redis.ts';

const silent = createLogger('webhooks-test', 'silent');
const redis = newRedis();
afterAll(() => redis.quit());

/** A lookup that answers from a table, so guard tests need no DNS. */
function fakeLookup(table: Record<string, string[]>): LookupFn {
  return async (host) => {
    const addrs = table[host];
    if (!addrs) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addrs.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

async function waitFor<T>(probe: () => Promise<T> | T, done: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > until) throw new Error(`condition not met in ${timeoutMs} ms; last value ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('webhook signing', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

  it('signs the Standard Webhooks reference vector', () => {
    expect(signWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('verifies a signed body and rejects a tampered body or a wrong secret', () => {
    const body = '{"type":"job.completed"}';
    const headers = { 'webhook-id': 'm1', 'webhook-timestamp': '1000', 'webhook-signature': signWebhook(secret, 'm1', 1000, body) };
    expect(verifyWebhook(secret, headers, body, { nowSec: 1010 })).toEqual({ ok: true, id: 'm1', timestampSec: 1000 });
    expect(verifyWebhook(secret, headers, Buffer.from(body), { nowSec: 1010 }).ok).toBe(true);
    expect(verifyWebhook(secret, headers, body.replace('completed', 'failed'), { nowSec: 1010 })).toEqual({
      ok: false,
      reason: 'no_matching_signature',
    });
    expect(verifyWebhook(generateWebhookSecret(), headers, body, { nowSec: 1010 }).ok).toBe(false);
  });

  it('accepts any one of several space-separated signatures, as during a secret rotation', () => {
    const other = generateWebhookSecret();
    const sigs = `v1a,bm90LWhtYWM= ${signWebhook(other, 'm1', 1000, 'x')} ${signWebhook(secret, 'm1', 1000, 'x')}`;
    const headers = { 'Webhook-Id': 'm1', 'Webhook-Timestamp': '1000', 'Webhook-Signature': sigs };
    expect(verifyWebhook(secret, headers, 'x', { nowSec: 1000 }).ok).toBe(true);
    expect(verifyWebhook(secret, new Headers(headers), 'x', { nowSec: 1000 }).ok).toBe(true);
  });

  it('rejects stale or future timestamps and missing headers', () => {
    const headers = { 'webhook-id': 'm1', 'webhook-timestamp': '1000', 'webhook-signature': signWebhook(secret, 'm1', 1000, 'x') };
    expect(verifyWebhook(secret, headers, 'x', { nowSec: 1301 })).toEqual({ ok: false, reason: 'timestamp_too_old' });
    expect(verifyWebhook(secret, headers, 'x', { nowSec: 600 })).toEqual({ ok: false, reason: 'timestamp_too_new' });
    expect(verifyWebhook(secret, headers, 'x', { nowSec: 1400, toleranceSec: 600 }).ok).toBe(true);
    expect(verifyWebhook(secret, { 'webhook-id': 'm1' }, 'x')).toEqual({ ok: false, reason: 'missing_headers' });
  });

  it('refuses malformed or short secrets and generates valid ones', () => {
    expect(() => parseWebhookSecret('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(WebhookSecretError);
    expect(() => parseWebhookSecret('whsec_not base64!')).toThrow(WebhookSecretError);
    expect(() => parseWebhookSecret('whsec_c2hvcnQ=')).toThrow(/24-64 bytes/);
    expect(parseWebhookSecret(generateWebhookSecret())).toHaveLength(32);
  });
});

describe('ssrf guard', () => {
  const refused = ['10.0.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fd00::1', '::ffff:127.0.0.1', '100.64.0.1', '127.0.0.1', '0.0.0.0', 'fe80::1', '224.0.0.1', '64:ff9b::a00:1'];

  it.each(refused)('refuses a host that resolves to %s', async (address) => {
    const r = await checkWebhookUrl('https://hooks.example.com/x', EMPTY_ALLOW_LIST, fakeLookup({ 'hooks.example.com': [address] }));
    expect(r).toMatchObject({ ok: false, retryable: false });
  });

  it('allows a host that resolves only to public addresses', async () => {
    const lookup = fakeLookup({ 'hooks.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'] });
    expect(await checkWebhookUrl('https://hooks.example.com/x', EMPTY_ALLOW_LIST, lookup)).toEqual({ ok: true });
  });

  it('refuses a host when any one of its addresses is private', async () => {
    const lookup = fakeLookup({ 'mixed.example.com': ['93.184.216.34', '10.1.2.3'] });
    const r = await checkWebhookUrl('https://mixed.example.com/', EMPTY_ALLOW_LIST, lookup);
    expect(r).toMatchObject({ ok: false, reason: expect.stringContaining('10.1.2.3') });
  });

  it('refuses IP-literal URLs in any spelling, and non-http schemes', async () => {
    for (const url of ['http://127.0.0.1:8080/', 'http://[::1]/', 'http://0x7f.1/', 'http://2130706433/', 'http://[::ffff:169.254.169.254]/']) {
      expect(await checkWebhookUrl(url, EMPTY_ALLOW_LIST, fakeLookup({})), url).toMatchObject({ ok: false });
    }
    expect(await checkWebhookUrl('ftp://93.184.216.34/', EMPTY_ALLOW_LIST)).toMatchObject({ ok: false, reason: expect.stringContaining('scheme') });
    expect(await checkWebhookUrl('not a url', EMPTY_ALLOW_LIST)).toMatchObject({ ok: false });
  });

  it('treats an unresolvable host as a retryable failure', async () => {
    expect(await checkWebhookUrl('https://nowhere.example/', EMPTY_ALLOW_LIST, fakeLookup({}))).toMatchObject({ ok: false, retryable: true });
  });

  it('lets the allow-list admit addresses by CIDR and hosts by name', async () => {
    const allow = parseAllowList(' 127.0.0.1/32, hooks.internal ,10.0.0.0/8, fd00::1 ');
    const lookup = fakeLookup({ 'hooks.internal': ['192.168.1.1'], 'svc.corp': ['10.9.9.9'], 'v6.corp': ['fd00::1'], 'other.corp': ['192.168.1.1'] });
    expect(await checkWebhookUrl('http://127.0.0.1:9/', allow, lookup)).toEqual({ ok: true });
    expect(await checkWebhookUrl('http://HOOKS.internal./x', allow, lookup)).toEqual({ ok: true });
    expect(await checkWebhookUrl('http://svc.corp/', allow, lookup)).toEqual({ ok: true });
    expect(await checkWebhookUrl('http://v6.corp/', allow, lookup)).toEqual({ ok: true });
    expect(await checkWebhookUrl('http://other.corp/', allow, lookup)).toMatchObject({ ok: false });
    expect(await checkWebhookUrl('http://127.0.0.2/', allow, lookup)).toMatchObject({ ok: false });
    expect(() => parseAllowList('10.0.0.0/99')).toThrow(/CIDR/);
    expect(() => parseAllowList('bad host!')).toThrow(/allow-list/);
  });
});

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

type Reply = number | { status: number; headers?: Record<string, string> } | 'hang';

/** A real HTTP receiver on loopback that answers each path from a script (last reply repeats). */
class Receiver {
  readonly received: Received[] = [];
  readonly replies = new Map<string, Reply[]>();
  private server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      this.received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const script = this.replies.get(path) ?? [200];
      const reply = script.length > 1 ? script.shift()! : script[0]!;
      if (reply === 'hang') return;
      const { status, headers } = typeof reply === 'number' ? { status: reply, headers: {} } : reply;
      res.writeHead(status, headers).end('ok');
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }
  url(path: string, host = '127.0.0.1'): string {
    return `http://${host}:${(this.server.address() as AddressInfo).port}${path}`;
  }
  on(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('guarded agent', () => {
  const receiver = new Receiver();
  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());

  it('refuses at connect time a host name that resolves to a loopback address (DNS rebinding)', async () => {
    const agent = createGuardedAgent(EMPTY_ALLOW_LIST, { lookup: fakeLookup({ 'rebind.test': ['127.0.0.1'] }) });
    const err = await request(receiver.url('/rebind', 'rebind.test'), { method: 'POST', dispatcher: agent, body: '{}' }).catch((e: unknown) => e);
    expect(isGuardRefusal(err)).toBe(true);
    expect(receiver.on('/rebind')).toHaveLength(0);
    await agent.close();
  });

  it('connects through its own lookup when the allow-list admits the address', async () => {
    const agent = createGuardedAgent(parseAllowList('127.0.0.1/32'), { lookup: fakeLookup({ 'ok.test': ['127.0.0.1'] }) });
    const res = await request(receiver.url('/ok', 'ok.test'), { method: 'POST', dispatcher: agent, body: '{}' });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(receiver.on('/ok')).toHaveLength(1);
    await agent.close();
  });
});

describe('webhook delivery', () => {
  const secret = generateWebhookSecret();
  const loopback = parseAllowList('127.0.0.1/32');
  const receiver = new Receiver();
  let keys: Keys;
  const closers: Array<() => Promise<void>> = [];
  beforeAll(() => receiver.start());
  afterAll(() => receiver.stop());
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  function start(opts: { allowList?: AllowList; attempts?: number; timeoutMs?: number } = {}) {
    keys = testKeys();
    const dispatcher = new WebhookDispatcher({ connection: redis, keys, attempts: opts.attempts, backoffMs: 50, backoffJitter: 0, logger: silent });
    const worker = new WebhookDeliveryWorker({
      connection: redis,
      keys,
      secret,
      allowList: opts.allowList ?? loopback,
      timeoutMs: opts.timeoutMs,
      logger: silent,
    });
    closers.push(() => worker.close(), () => dispatcher.close());
    return { dispatcher, worker };
  }

  const finalState = (d: WebhookDispatcher, id: string) => async () => (await d.queue.getJob(id))?.getState();

  it('delivers a Standard Webhooks envelope whose headers verify on the receiver side', async () => {
    const { dispatcher } = start();
    const job = { id: 'job-1', webhook: { url: receiver.url('/hook') } };
    const id = await dispatcher.enqueue(job, 'job.completed', { id: 'job-1', status: 'succeeded' });
    expect(id).toBe(deliveryIdFor('job-1', 'job.completed'));

    const [got] = await waitFor(() => receiver.on('/hook'), (r) => r.length === 1);
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers['webhook-id']).toBe(id);
    expect(verifyWebhook(secret, got!.headers, got!.body)).toMatchObject({ ok: true, id });
    expect(verifyWebhook(secret, got!.headers, got!.body + ' ').ok).toBe(false);
    const envelope = JSON.parse(got!.body);
    expect(envelope).toEqual({ type: 'job.completed', timestamp: expect.any(String), data: { id: 'job-1', status: 'succeeded' } });
    expect(new Date(envelope.timestamp).toISOString()).toBe(envelope.timestamp);

    const log = await waitFor(() => readDeliveryLog(redis, keys, 'job-1'), (l) => l.length === 1);
    expect(log[0]).toMatchObject({ event: 'job.completed', attempt: 1, status: 200, ok: true, webhook_id: id });
    expect(await redis.ttl(keys.jobDeliveries('job-1'))).toBeGreaterThan(0);
  });

  it('skips events the job webhook did not ask for', async () => {
    const { dispatcher } = start();
    const job = { id: 'job-2', webhook: { url: receiver.url('/filtered'), events: ['job.completed' as const] } };
    expect(await dispatcher.enqueue(job, 'job.started', {})).toBeNull();
    expect(await dispatcher.enqueue({ id: 'job-x', webhook: null }, 'job.completed', {})).toBeNull();
    expect(await dispatcher.enqueue(job, 'job.completed', {})).not.toBeNull();
    const got = await waitFor(() => receiver.on('/filtered'), (r) => r.length === 1);
    expect(JSON.parse(got[0]!.body).type).toBe('job.completed');
    // The receiver answers before BullMQ records completion, so wait for it; one job in all.
    const counts = await waitFor(() => dispatcher.queue.getJobCounts('completed', 'waiting', 'active', 'delayed'), (c) => c.completed === 1);
    expect(counts).toEqual({ completed: 1, waiting: 0, active: 0, delayed: 0 });
  });

  it('retries a 500 with exponential backoff until a 2xx and logs every attempt', async () => {
    const { dispatcher } = start();
    receiver.replies.set('/flaky', [500, 500, 200]);
    const id = (await dispatcher.enqueue({ id: 'job-3', webhook: { url: receiver.url('/flaky') } }, 'job.failed', {}))!;
    const log = await waitFor(() => readDeliveryLog(redis, keys, 'job-3'), (l) => l.length === 3);
    expect(log.map((e) => [e.attempt, e.status, e.ok])).toEqual([[1, 500, false], [2, 500, false], [3, 200, true]]);
    expect(log[0]!.error).toMatch(/500/);

    const hits = receiver.on('/flaky');
    expect(new Set(hits.map((h) => h.headers['webhook-id']))).toEqual(new Set([id]));
    // Backoff 50 ms then 100 ms (exponential, no jitter in this test).
    expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(45);
    expect(hits[2]!.at - hits[1]!.at).toBeGreaterThanOrEqual(90);
    expect(await waitFor(finalState(dispatcher, id), (s) => s === 'completed')).toBe('completed');
  });

  it('stops retrying after one attempt when the receiver answers 410 Gone', async () => {
    const { dispatcher } = start();
    receiver.replies.set('/gone', [410]);
    const id = (await dispatcher.enqueue({ id: 'job-4', webhook: { url: receiver.url('/gone') } }, 'job.completed', {}))!;
    await waitFor(finalState(dispatcher, id), (s) => s === 'failed');
    expect(receiver.on('/gone')).toHaveLength(1);
    expect(await readDeliveryLog(redis, keys, 'job-4')).toMatchObject([{ attempt: 1, status: 410, ok: false }]);
  });

  it('treats a 302 redirect as a failure and never calls the redirect target', async () => {
    const { dispatcher } = start({ attempts: 2 });
    receiver.replies.set('/moved', [{ status: 302, headers: { location: receiver.url('/target') } }]);
    const id = (await dispatcher.enqueue({ id: 'job-5', webhook: { url: receiver.url('/moved') } }, 'job.completed', {}))!;
    await waitFor(finalState(dispatcher, id), (s) => s === 'failed');
    expect(receiver.on('/moved')).toHaveLength(2);
    expect(receiver.on('/target')).toHaveLength(0);
    const log = await readDeliveryLog(redis, keys, 'job-5');
    expect(log.map((e) => [e.status, e.ok])).toEqual([[302, false], [302, false]]);
  });

  it('refuses a loopback URL without an allow-list, sending nothing and not retrying', async () => {
    const { dispatcher } = start({ allowList: EMPTY_ALLOW_LIST });
    const id = (await dispatcher.enqueue({ id: 'job-6', webhook: { url: receiver.url('/private') } }, 'job.completed', {}))!;
    await waitFor(finalState(dispatcher, id), (s) => s === 'failed');
    expect(receiver.on('/private')).toHaveLength(0);
    const log = await readDeliveryLog(redis, keys, 'job-6');
    expect(log).toMatchObject([{ attempt: 1, status: null, ok: false, error: expect.stringContaining('loopback') }]);
  });

  it('retries an attempt that times out', async () => {
    const { dispatcher } = start({ attempts: 2, timeoutMs: 200 });
    receiver.replies.set('/slow', ['hang']);
    const id = (await dispatcher.enqueue({ id: 'job-7', webhook: { url: receiver.url('/slow') } }, 'job.completed', {}))!;
    await waitFor(finalState(dispatcher, id), (s) => s === 'failed');
    const log = await readDeliveryLog(redis, keys, 'job-7');
    expect(log.map((e) => [e.attempt, e.status, e.error])).toEqual([
      [1, null, 'timed out after 200 ms'],
      [2, null, 'timed out after 200 ms'],
    ]);
  });

  it('enqueues the same event for the same job once, and afresh for a re-run', async () => {
    keys = testKeys();
    const dispatcher = new WebhookDispatcher({ connection: redis, keys, logger: silent });
    closers.push(() => dispatcher.close());
    const job = { id: 'job.8:odd', webhook: { url: 'https://hooks.example.com/x' } };
    const first = await dispatcher.enqueue(job, 'job.completed', { n: 1 });
    const again = await dispatcher.enqueue(job, 'job.completed', { n: 2 });
    expect(again).toBe(first);
    expect(first).not.toMatch(/[.:]/);
    expect(await dispatcher.queue.getWaitingCount()).toBe(1);
    const rerun = await dispatcher.enqueue(job, 'job.completed', { n: 3 }, 2);
    expect(rerun).not.toBe(first);
    expect(await dispatcher.queue.getWaitingCount()).toBe(2);
    expect(JSON.parse((await dispatcher.queue.getJob(first!))!.data.body).data).toEqual({ n: 1 });
  });
});
