/**
 * The client's verifyWebhook (Web Crypto) against deliveries the fabric really sent, signed
 * by the server's signer: accepted as sent, refused when the body, the timestamp or the
 * secret is not the one signed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FabricClient, verifyWebhook } from '../client/src/index.ts';
import { generateWebhookSecret, signWebhook, verifyWebhook as serverVerify } from '../protocol/webhook-signing.ts';
import { startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { startReceiver, type WebhookReceiver } from './support/webhook-receiver.ts';

let f: TestFabric | undefined;
let receiver: WebhookReceiver | undefined;
afterEach(async () => {
  await f?.close();
  await receiver?.close();
  f = receiver = undefined;
});

describe('client: verifyWebhook', () => {
  it('accepts a delivery the fabric sent and refuses a changed body, a stale timestamp and another secret', async () => {
    f = await startFabric();
    const secret = generateWebhookSecret();
    await f.startWebhooks(secret);
    await f.addWorker({}, { preload: ['fake-small:latest'] });
    const { url, got } = (receiver = await startReceiver());
    const client = new FabricClient({ baseUrl: f.url });
    const job = await client.jobs.create({ model: 'fake-small', input: { prompt: 'hook me' }, webhook: { url, events: ['job.completed'] } });
    await waitFor(async () => got.length >= 1);
    const { headers, raw: body } = got[0]!;

    const ok = await verifyWebhook(headers, body, secret);
    expect(ok).toMatchObject({ ok: true, id: headers['webhook-id'], payload: { type: 'job.completed', data: { id: job.id, status: 'succeeded' } } });
    // The same delivery as a string body and through fetch's Headers.
    const fetchHeaders = new Headers(Object.entries(headers).map(([k, v]) => [k, String(v)] as [string, string]));
    expect((await verifyWebhook(fetchHeaders, body.toString('utf8'), secret)).ok).toBe(true);

    const changed = Buffer.from(body.toString('utf8').replace('"succeeded"', '"failed"'));
    expect(changed.equals(body)).toBe(false);
    expect(await verifyWebhook(headers, changed, secret)).toEqual({ ok: false, reason: 'no_matching_signature' });

    // Stale: correctly signed by the server's signer, but ten minutes old (tolerance 5 min).
    const staleTs = Math.floor(Date.now() / 1000) - 600;
    const stale = { ...headers, 'webhook-timestamp': String(staleTs), 'webhook-signature': signWebhook(secret, String(headers['webhook-id']), staleTs, body) };
    expect(serverVerify(secret, stale, body, { toleranceSec: 3600 }).ok).toBe(true); // the signature itself is good
    expect(await verifyWebhook(stale, body, secret)).toEqual({ ok: false, reason: 'timestamp_too_old' });
    // The real delivery, checked as if it arrived ten minutes late.
    expect(await verifyWebhook(headers, body, secret, { nowSec: Number(headers['webhook-timestamp']) + 600 })).toEqual({ ok: false, reason: 'timestamp_too_old' });

    expect(await verifyWebhook(headers, body, generateWebhookSecret())).toEqual({ ok: false, reason: 'no_matching_signature' });
    expect(await verifyWebhook({ ...headers, 'webhook-signature': undefined }, body, secret)).toEqual({ ok: false, reason: 'missing_headers' });
    await expect(verifyWebhook(headers, body, 'not-a-secret')).rejects.toThrow(TypeError);
  });
});
