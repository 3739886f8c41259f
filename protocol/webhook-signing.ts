/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): the sender signs
 * `{webhook-id}.{webhook-timestamp}.{raw body}` with HMAC-SHA256 under a `whsec_<base64>`
 * secret and sends `v1,<base64 mac>` in `webhook-signature`. `verifyWebhook` is what a
 * receiver runs; it is exported for users (and the tests) so both sides share one definition.
 *
 * Receiver example (Node, raw body as a Buffer, never re-serialized JSON):
 *
 *   const result = verifyWebhook(process.env.FABRIC_WEBHOOK_SECRET!, req.headers, rawBody);
 *   if (!result.ok) return res.status(400).end();
 *   // result.id is stable across retries: use it as an idempotency key.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readWebhookEnvelope, type VerifyWebhookOptions as VerifyOptions, type WebhookHeaders, type WebhookVerifyFailure as VerifyFailure } from '../client/src/webhooks.ts';

export const WEBHOOK_SECRET_PREFIX = 'whsec_';
/** Standard Webhooks: a symmetric secret is random, 24 to 64 bytes. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
const SIGNATURE_VERSION = 'v1';

export class WebhookSecretError extends Error {
  override name = 'WebhookSecretError';
}

/** Decodes a `whsec_<base64>` secret into its HMAC key; throws `WebhookSecretError` if malformed. */
export function parseWebhookSecret(secret: string): Buffer {
  if (!secret.startsWith(WEBHOOK_SECRET_PREFIX)) {
    throw new WebhookSecretError(`webhook secret must start with ${WEBHOOK_SECRET_PREFIX}`);
  }
  const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
  // Buffer.from(.., 'base64') silently skips junk, so check the alphabet first.
  if (!BASE64_RE.test(encoded)) throw new WebhookSecretError('webhook secret is not valid base64 after whsec_');
  const key = Buffer.from(encoded, 'base64');
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    throw new WebhookSecretError(`webhook secret must decode to ${MIN_SECRET_BYTES}-${MAX_SECRET_BYTES} bytes, got ${key.length}`);
  }
  return key;
}

/** A fresh random secret in `whsec_<base64>` form (32 bytes by default). */
export function generateWebhookSecret(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < MIN_SECRET_BYTES || bytes > MAX_SECRET_BYTES) {
    throw new WebhookSecretError(`secret size must be ${MIN_SECRET_BYTES}-${MAX_SECRET_BYTES} bytes`);
  }
  return WEBHOOK_SECRET_PREFIX + randomBytes(bytes).toString('base64');
}

function mac(key: Buffer, msgId: string, timestampSec: number | string, body: string | Buffer): Buffer {
  return createHmac('sha256', key).update(`${msgId}.${timestampSec}.`).update(body).digest();
}

/**
 * `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. The id must not contain `.`: the signed
 * content is dot-delimited, so a dotted id would make id and timestamp ambiguous.
 */
export function signWebhook(secret: string, msgId: string, timestampSec: number, body: string | Buffer): string {
  if (msgId.length === 0 || msgId.includes('.')) throw new Error(`webhook id must be non-empty and dot-free, got ${JSON.stringify(msgId)}`);
  if (!Number.isInteger(timestampSec) || timestampSec < 0) throw new Error(`webhook timestamp must be integer seconds, got ${timestampSec}`);
  return `${SIGNATURE_VERSION},${mac(parseWebhookSecret(secret), msgId, timestampSec, body).toString('base64')}`;
}

/**
 * The `webhook-signature` header value for several secrets, space-delimited: during a secret
 * rotation the sender signs with old and new so receivers switch without downtime.
 */
export function signatureHeader(secrets: readonly string[], msgId: string, timestampSec: number, body: string | Buffer): string {
  return secrets.map((s) => signWebhook(s, msgId, timestampSec, body)).join(' ');
}

/** Headers, options and failure reasons are the client's (one definition for both verifiers). */
export type { WebhookHeaders, VerifyOptions, VerifyFailure };

export type VerifyResult = { ok: true; id: string; timestampSec: number } | { ok: false; reason: VerifyFailure };

/**
 * Checks a received webhook: all three headers present, timestamp within `toleranceSec`
 * (default 300) of now, and at least one `v1,` signature matching in constant time.
 * `body` must be the raw bytes as received. A malformed `secret` throws `WebhookSecretError`
 * (a configuration error, unlike a bad request, which returns `{ok: false}`). The client's
 * `verifyWebhook` is the same check with Web Crypto, for receivers outside Node.
 */
export function verifyWebhook(secret: string, headers: WebhookHeaders, body: string | Buffer, opts: VerifyOptions = {}): VerifyResult {
  const env = readWebhookEnvelope(headers, opts);
  if (!env.ok) return env;
  const { id, timestamp: ts, timestampSec } = env;
  const expected = mac(parseWebhookSecret(secret), id, ts, body);
  let matched = false;
  // Check every entry (no early exit) so timing does not reveal which one matched.
  for (const entry of env.signatures) {
    const given = Buffer.from(entry, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  return matched ? { ok: true, id, timestampSec } : { ok: false, reason: 'no_matching_signature' };
}
