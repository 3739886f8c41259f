/**
 * Where Redis is, as one tagged union parsed from `REDIS_URL`:
 * - `redis://[user:pass@]host:port[/db]` (or `rediss://`): one server;
 * - `redis+sentinel://[user:pass@]host1:26379,host2:26379/mymaster[/db]`: ask these
 *   sentinels for the master named `mymaster` (follows failovers);
 * - `redis+cluster://[user:pass@]host1:7000,host2:7001`: a Redis Cluster, these are seed nodes.
 * The password in a sentinel URL is the data servers' password; sentinels that need their
 * own take `sentinelPassword` (from `REDIS_SENTINEL_PASSWORD`).
 */
import { ConfigError } from '../protocol/env.ts';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

interface Credentials {
  readonly username?: string;
  readonly password?: string;
}

export type RedisEndpoint =
  | ({ readonly kind: 'single'; readonly url: string } & Credentials)
  | ({ readonly kind: 'sentinel'; readonly sentinels: readonly HostPort[]; readonly masterName: string; readonly db: number; readonly tls: boolean; readonly sentinelPassword?: string } & Credentials)
  | ({ readonly kind: 'cluster'; readonly nodes: readonly HostPort[]; readonly tls: boolean } & Credentials);

const SCHEMES: Record<string, { kind: RedisEndpoint['kind']; tls: boolean; defaultPort: number }> = {
  'redis:': { kind: 'single', tls: false, defaultPort: 6379 },
  'rediss:': { kind: 'single', tls: true, defaultPort: 6379 },
  'redis+sentinel:': { kind: 'sentinel', tls: false, defaultPort: 26379 },
  'rediss+sentinel:': { kind: 'sentinel', tls: true, defaultPort: 26379 },
  'redis+cluster:': { kind: 'cluster', tls: false, defaultPort: 6379 },
  'rediss+cluster:': { kind: 'cluster', tls: true, defaultPort: 6379 },
};

/** Parses a Redis URL of any supported kind; throws `ConfigError` naming what is wrong. */
export function parseRedisEndpoint(url: string, extra: { sentinelPassword?: string } = {}): RedisEndpoint {
  const m = /^([a-z+]+:)\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?$/i.exec(url.trim());
  const scheme = m ? SCHEMES[m[1]!.toLowerCase()] : undefined;
  if (!m || !scheme) {
    throw new ConfigError(`REDIS_URL must be redis://host:port, redis+sentinel://host:port,.../master or redis+cluster://host:port,..., got ${JSON.stringify(redact(url))}`);
  }
  if (scheme.kind === 'single') return { kind: 'single', url: url.trim(), ...credentials(m[2]) };
  const hosts = parseHosts(m[3]!, scheme.defaultPort, url);
  const path = (m[4] ?? '').split('/').filter(Boolean).map(decodeURIComponent);
  if (scheme.kind === 'cluster') {
    if (path.length > 0) throw new ConfigError(`a redis+cluster URL takes no path (Redis Cluster has only db 0), got ${JSON.stringify(redact(url))}`);
    return { kind: 'cluster', nodes: hosts, tls: scheme.tls, ...credentials(m[2]) };
  }
  const [masterName, dbText] = path;
  if (!masterName || path.length > 2) throw new ConfigError(`a redis+sentinel URL ends with /<master name>[/<db>], got ${JSON.stringify(redact(url))}`);
  const db = dbText === undefined ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new ConfigError(`the db in a redis+sentinel URL must be an integer >= 0, got ${JSON.stringify(dbText)}`);
  return {
    kind: 'sentinel',
    sentinels: hosts,
    masterName,
    db,
    tls: scheme.tls,
    ...credentials(m[2]),
    ...(extra.sentinelPassword ? { sentinelPassword: extra.sentinelPassword } : {}),
  };
}

function parseHosts(list: string, defaultPort: number, url: string): HostPort[] {
  const hosts = list.split(',').map((h) => h.trim()).filter(Boolean);
  if (hosts.length === 0) throw new ConfigError(`REDIS_URL names no host: ${JSON.stringify(redact(url))}`);
  return hosts.map((h) => {
    const hm = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h);
    const port = hm?.[2] === undefined ? defaultPort : Number(hm[2]);
    if (!hm || port < 1 || port > 65535) throw new ConfigError(`bad host:port ${JSON.stringify(h)} in REDIS_URL`);
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

function credentials(userinfo: string | undefined): Credentials {
  if (!userinfo) return {};
  const i = userinfo.indexOf(':');
  const username = decodeURIComponent(i < 0 ? userinfo : userinfo.slice(0, i));
  const password = i < 0 ? undefined : decodeURIComponent(userinfo.slice(i + 1));
  // `redis://:pass@host` is a password with the default user, as redis-cli reads it.
  if (password === undefined) return { password: username };
  return { ...(username ? { username } : {}), password };
}

/** The URL with any password replaced, for error messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_all, userinfo: string) => `//${userinfo.includes(':') ? `${userinfo.slice(0, userinfo.indexOf(':'))}:***` : '***'}@`);
}
