import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { queueNameFor } from '../protocol/model-names.ts';
import { jobTag } from '../protocol/slot-tags.ts';
import { generateWebhookSecret, verifyWebhook } from '../protocol/webhook-signing.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { startReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

let f: TestFabric;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await f?.close();
  await receiver?.close();
});

describe('webhooks end to end', () => {
  it('delivers signed job.started and job.completed events that the receiver verifies, and logs them on the job', async () => {
    f = await startFabric();
    const secret = generateWebhookSecret();
    await f.startWebhooks(secret);
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const { url, got } = (receiver = await startReceiver());
    const sub = await call(f.url, '/v1/jobs', {
      body: { model: 'fake-small', input: { prompt: 'hook' }, webhook: { url, events: ['job.started', 'job.completed'] } },
    });
    expect(sub.status).toBe(202);
    await waitFor(async () => got.length >= 2);
    const types = got.map((g) => JSON.parse(g.body).type).sort();
    expect(types).toEqual(['job.completed', 'job.started']);
    for (const g of got) expect(verifyWebhook(secret, g.headers, g.body)).toMatchObject({ ok: true });
    expect(verifyWebhook(generateWebhookSecret(), got[0]!.headers, got[0]!.body).ok).toBe(false);
    const completed = JSON.parse(got.find((g) => JSON.parse(g.body).type === 'job.completed')!.body);
    expect(completed.data).toMatchObject({ id: sub.json.id, status: 'succeeded' });
    const job = await waitFor(async () => {
      const r = await call(f.url, `/v1/jobs/${sub.json.id}`);
      return r.json.webhook_deliveries?.length >= 2 ? r : undefined;
    });
    expect(job.json.webhook_deliveries.every((d: any) => d.ok === true && d.status === 204)).toBe(true);
  });

  it('expires a queued job nobody reads once its ttl passes: the sweeper ends it, empties its queue slot and sends job.expired', async () => {
    f = await startFabric({ expirySweepMs: 200 });
    await f.startWebhooks(generateWebhookSecret());
    // A worker that publishes the catalog but is never told to load the model: nothing picks the
    // job up, and the test never reads it through the API.
    await f.addWorker({});
    const { url, got } = (receiver = await startReceiver());
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'late' }, ttl: 1, webhook: { url, events: ['job.expired'] } } });
    expect(sub.status).toBe(202);
    expect(await f.redis.zscore(f.keys.deadlines(jobTag(sub.json.id)), sub.json.id)).not.toBeNull();
    const rec = await waitFor(async () => {
      const r = await f.api.store.get(sub.json.id);
      return r?.status === 'expired' ? r : undefined;
    }, 5_000);
    expect(rec.finishedAt! - rec.createdAt).toBeGreaterThanOrEqual(1_000);
    expect(rec.startedAt).toBeNull();
    await waitFor(async () => got.length >= 1);
    expect(JSON.parse(got[0]!.body)).toMatchObject({ type: 'job.expired', data: { id: sub.json.id, status: 'expired' } });
    const queue = new Queue(queueNameFor('fake-small:latest'), { connection: f.redis, prefix: f.keys.bullPrefix });
    try {
      expect(await queue.getJobCounts('waiting', 'prioritized', 'active')).toEqual({ waiting: 0, prioritized: 0, active: 0 });
    } finally {
      await queue.close();
    }
    expect(await f.redis.zscore(f.keys.deadlines(jobTag(sub.json.id)), sub.json.id)).toBeNull();
  });

  it('sends only the events a job asked for', async () => {
    f = await startFabric();
    await f.startWebhooks(generateWebhookSecret());
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const { url, got } = (receiver = await startReceiver());
    const sub = await call(f.url, '/v1/jobs', { body: { model: 'fake-small', input: { prompt: 'FAIL:engine_error' }, webhook: { url, events: ['job.failed'] } } });
    await waitFor(async () => got.length >= 1);
    await call(f.url, `/v1/jobs/${sub.json.id}?wait=5`);
    await new Promise((r) => setTimeout(r, 300));
    expect(got.map((g) => JSON.parse(g.body).type)).toEqual(['job.failed']);
  });
});
