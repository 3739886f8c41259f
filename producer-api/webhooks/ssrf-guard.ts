/**
 * SSRF guard for webhook URLs. A webhook URL is chosen by a client but called from inside
 * the cluster, so it must not reach Redis, the engines, cloud metadata (169.254.169.254) or
 * anything else private. Rule: http(s) only, and every address the host resolves to must be
 * public unicast, unless the operator allow-list (`FABRIC_WEBHOOK_ALLOWLIST`: host names and
 * IPs/CIDRs) names the host or the address.
 *
 * The check runs twice: `checkWebhookUrl` before each attempt (clear reasons, IP literals),
 * and the lookup of `createGuardedAgent` at connect time, on the very addresses the socket
 * will use, so a DNS answer that changes between check and connect (rebinding) is caught.
 */
import { promises as dns } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

export interface AllowList {
  /** Lower-case host names without a trailing dot. */
  readonly hosts: ReadonlySet<string>;
  readonly cidrs: readonly Cidr[];
}

export const EMPTY_ALLOW_LIST: AllowList = { hosts: new Set(), cidrs: [] };

export type GuardResult = { ok: true } | { ok: false; reason: string; retryable: boolean };

/** Resolves a host name to all its addresses; injectable so tests need no DNS. */
export type LookupFn = (hostname: string) => Promise<readonly LookupAddress[]>;

export const systemLookup: LookupFn = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** Thrown by the guarded agent's connect-time lookup; final, a retry would be refused too. */
export class WebhookUrlRefusedError extends Error {
  override name = 'WebhookUrlRefusedError';
  readonly code = 'EWEBHOOKREFUSED';
}

const HOST_RE = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

function normalizeHost(host: string): string {
  return host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/** Parses an IP literal strictly (no `127.1` or hex shorthands), IPv4-mapped IPv6 folded to IPv4. */
function parseIp(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text)) return ipaddr.process(text);
  return undefined;
}

/** Parses `FABRIC_WEBHOOK_ALLOWLIST`: comma-separated host names, IPs and CIDRs. */
export function parseAllowList(text: string | undefined): AllowList {
  const hosts = new Set<string>();
  const cidrs: Cidr[] = [];
  for (const raw of (text ?? '').split(',')) {
    const entry = normalizeHost(raw);
    if (!entry) continue;
    if (entry.includes('/')) {
      if (!ipaddr.isValidCIDR(entry)) throw new Error(`webhook allow-list entry ${JSON.stringify(raw.trim())} is not a valid CIDR`);
      const [addr, bits] = ipaddr.parseCIDR(entry);
      cidrs.push([addr, bits]);
      // An IPv4 CIDR also covers the IPv4-mapped IPv6 form, since addresses are folded to IPv4.
    } else if (parseIp(entry)) {
      const addr = parseIp(entry)!;
      cidrs.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    } else if (HOST_RE.test(entry)) {
      hosts.add(entry);
    } else {
      throw new Error(`webhook allow-list entry ${JSON.stringify(raw.trim())} is neither a host name nor an IP/CIDR`);
    }
  }
  return { hosts, cidrs };
}

function inAllowedCidr(addr: ipaddr.IPv4 | ipaddr.IPv6, allowList: AllowList): boolean {
  // ipaddr's match throws across families, so compare kinds first.
  return allowList.cidrs.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
}

/**
 * Whether one resolved address may be called. Only `unicast` passes: that excludes private,
 * loopback, link-local, unique-local, CGNAT, multicast, reserved, and the IPv6 ranges that
 * embed an IPv4 address (6to4, NAT64, Teredo), which could tunnel back to a private one.
 */
export function checkAddress(address: string, allowList: AllowList): GuardResult {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(address.replace(/%.*$/, ''));
  } catch {
    return { ok: false, reason: `unparseable address ${address}`, retryable: false };
  }
  if (inAllowedCidr(addr, allowList)) return { ok: true };
  const range = addr.range();
  return range === 'unicast' ? { ok: true } : { ok: false, reason: `address ${address} is ${range}`, retryable: false };
}

function checkAll(host: string, addresses: readonly LookupAddress[], allowList: AllowList): GuardResult {
  if (addresses.length === 0) return { ok: false, reason: `${host} resolved to no address`, retryable: true };
  // Any bad address refuses the host: the connection may pick any of them.
  for (const { address } of addresses) {
    const r = checkAddress(address, allowList);
    if (!r.ok) return { ok: false, reason: `${host} resolves to ${address}: ${r.reason}`, retryable: false };
  }
  return { ok: true };
}

/** Decides whether `url` may be called as a webhook. A DNS failure is retryable, a refusal is not. */
export async function checkWebhookUrl(url: string, allowList: AllowList, lookup: LookupFn = systemLookup): Promise<GuardResult> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'invalid URL', retryable: false };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, reason: `scheme ${parsed.protocol.replace(/:$/, '')} is not allowed (http or https only)`, retryable: false };
  }
  // WHATWG URL already canonicalizes odd IPv4 spellings (0x7f.1, 2130706433) to dotted decimal.
  const host = normalizeHost(parsed.hostname);
  if (allowList.hosts.has(host)) return { ok: true };
  if (parseIp(host)) return checkAddress(host, allowList);
  let addresses: readonly LookupAddress[];
  try {
    addresses = await lookup(host);
  } catch (err) {
    return { ok: false, reason: `cannot resolve ${host}: ${(err as Error).message}`, retryable: true };
  }
  return checkAll(host, addresses, allowList);
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `net.connect` lookup that resolves with `lookup` and refuses hosts the guard refuses. */
export function guardedLookup(allowList: AllowList, lookup: LookupFn = systemLookup) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    const host = normalizeHost(hostname);
    lookup(host).then(
      (all) => {
        const verdict = allowList.hosts.has(host) ? ({ ok: true } as const) : checkAll(host, all, allowList);
        if (!verdict.ok) return callback(new WebhookUrlRefusedError(verdict.reason), '');
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const usable = family ? all.filter((a) => a.family === family) : [...all];
        const first = usable[0];
        if (!first) return callback(Object.assign(new Error(`${host} has no IPv${family} address`), { code: 'ENOTFOUND' }), '');
        if (options.all) return callback(null, usable);
        callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}

export interface GuardedAgentOptions {
  lookup?: LookupFn;
  /** TCP/TLS connect timeout. @defaultValue 10000 */
  connectTimeoutMs?: number;
}

/**
 * An undici Agent that re-validates addresses at connect time and never follows redirects.
 * IP-literal hosts skip lookup in `net.connect`; they cannot rebind, and `checkWebhookUrl`
 * has already judged them.
 */
export function createGuardedAgent(allowList: AllowList, opts: GuardedAgentOptions = {}): Agent {
  return new Agent({
    connect: { lookup: guardedLookup(allowList, opts.lookup), timeout: opts.connectTimeoutMs ?? 10_000 },
    maxRedirections: 0,
  });
}

/** True when `err` (or one of its causes) is a connect-time refusal by the guard. */
export function isGuardRefusal(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof WebhookUrlRefusedError || (e as NodeJS.ErrnoException).code === 'EWEBHOOKREFUSED') return true;
  }
  return false;
}
