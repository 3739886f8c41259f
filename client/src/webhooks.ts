/**
 * Verifies a webhook the fabric sent (Standard Webhooks, the rules the server signs with):
 * HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{raw body}` under a `whsec_<base64>`
 * secret, compared in constant time, timestamp within a tolerance. Uses Web Crypto, so it
 * runs in browsers, Node 22+, Deno and workers alike; that makes it async.
 */

/** Headers as Node (`req.headers`) or fetch (`Headers`) present them. */
export type WebhookHeaders = Record<string, string | string[] | undefined> | { get(name: string): string | null };

export type WebhookVerifyFailure = 'missing_headers' | 'invalid_timestamp' | 'timestamp_too_old' | 'timestamp_too_new' | 'no_matching_signature';

export interface VerifiedWebhook<T = WebhookPayload> {
  ok: true;
  /** `webhook-id`: the same on every retry of a delivery; use it to drop duplicates. */
  id: string;
  timestampSec: number;
  payload: T;
}
export type WebhookVerifyResult<T = WebhookPayload> = VerifiedWebhook<T> | { ok: false; reason: WebhookVerifyFailure };

/** What the fabric sends: the event type and the job as `GET /v1/jobs/:id` shows it. */
export interface WebhookPayload {
  type: import('./statuses.ts').WebhookEventType;
  timestamp: string;
  data: import('./types.ts').Job;
}

export interface VerifyWebhookOptions {
  /** Largest allowed distance between the webhook's timestamp and now, either way (replay guard). */
  toleranceSec?: number;
  /** Current time in seconds (tests). */
  nowSec?: number;
}

const PREFIX = 'whsec_';

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value.join(' ') : value;
}

function base64ToBytes(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function bytesOf(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return new TextEncoder().encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

/** Equal length and equal bytes, looking at every byte (no early exit). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The signed headers of a delivery, checked for presence and freshness (no signature check yet). */
export type WebhookEnvelope = { ok: true; id: string; timestamp: string; timestampSec: number; signatures: string[] } | { ok: false; reason: WebhookVerifyFailure };

/**
 * The part of verification that needs no key: all three headers present and the timestamp
 * within `toleranceSec` (default 300) of now. Shared with the server's Node verifier.
 */
export function readWebhookEnvelope(headers: WebhookHeaders, opts: VerifyWebhookOptions = {}): WebhookEnvelope {
  const { toleranceSec = 300, nowSec = Math.floor(Date.now() / 1000) } = opts;
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !ts || !signatures) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'invalid_timestamp' };
  const timestampSec = Number(ts);
  if (timestampSec < nowSec - toleranceSec) return { ok: false, reason: 'timestamp_too_old' };
  if (timestampSec > nowSec + toleranceSec) return { ok: false, reason: 'timestamp_too_new' };
  // `v1,<base64>` entries only; other versions (or asymmetric `v1a`) are not ours to check.
  const v1 = signatures.split(' ').filter((e) => e.startsWith('v1,')).map((e) => e.slice(3));
  return { ok: true, id, timestamp: ts, timestampSec, signatures: v1 };
}

/**
 * Checks a received webhook. `rawBody` must be the bytes as received (not re-serialized
 * JSON). Resolves `{ok: true, id, timestampSec, payload}` or `{ok: false, reason}`; a
 * malformed `secret` throws a TypeError (a configuration error, not a bad request).
 */
export async function verifyWebhook<T = WebhookPayload>(
  headers: WebhookHeaders,
  rawBody: string | Uint8Array | ArrayBuffer,
  secret: string,
  opts: VerifyWebhookOptions = {},
): Promise<WebhookVerifyResult<T>> {
  const key = secret.startsWith(PREFIX) ? base64ToBytes(secret.slice(PREFIX.length)) : null;
  if (!key || key.length < 24 || key.length > 64) throw new TypeError('webhook secret must be whsec_ followed by 24-64 bytes of base64');
  const env = readWebhookEnvelope(headers, opts);
  if (!env.ok) return env;
  const body = bytesOf(rawBody);
  const prefix = new TextEncoder().encode(`${env.id}.${env.timestamp}.`);
  const signed = new Uint8Array(prefix.length + body.length);
  signed.set(prefix);
  signed.set(body, prefix.length);
  const hmacKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const expected = new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, signed));
  let matched = false;
  for (const entry of env.signatures) {
    const given = base64ToBytes(entry);
    if (given && sameBytes(given, expected)) matched = true;
  }
  if (!matched) return { ok: false, reason: 'no_matching_signature' };
  return { ok: true, id: env.id, timestampSec: env.timestampSec, payload: JSON.parse(new TextDecoder().decode(body)) as T };
}
