/**
 * Where Redis is, the key namespace, and the one factory every Redis connection of the fabric
 * comes from (`createRedisConnection`): one server, a sentinel-managed master or a Redis Cluster
 * (store/redis-client.ts says what differs). A connection serves one of two roles:
 * - `requests`: what an HTTP handler waits on. No offline queue and a bounded command time, so
 *   while Redis is away a command fails within about a second instead of waiting for Redis
 *   to return (the handler answers 503), and nothing sent during an outage runs late.
 * - `background`: BullMQ workers, subscribers, the scheduler, sweepers. Commands wait for
 *   Redis to come back (BullMQ requires `maxRetriesPerRequest: null` for its blocking reads), so
 *   these pause during an outage and resume on their own.
 * Every connection reports to `fabric_redis_connected{role}`.
 */
import { coalesceWrites } from './write-coalescing.ts';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { ConfigError, envString, type Env } from '../protocol/env.ts';
import { createKeys, type Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import { redisConnected } from '../protocol/metrics.ts';
import { isCluster, type RedisClient } from './redis-client.ts';
import { parseRedisEndpoint, type RedisEndpoint } from './redis-endpoint.ts';
import { StartupError } from '../protocol/startup.ts';

/** A parsed connection target: one server, a sentinel-managed master, or a cluster's seed nodes. */
export type RedisConnectionConfig = RedisEndpoint;

export interface RedisConfig {
  redisUrl: string;
  prefix: string;
  /** Password of the sentinels themselves, when they have one apart from the data servers' (REDIS_SENTINEL_PASSWORD). */
  sentinelPassword?: string;
}

export type RedisRole = 'requests' | 'background';

/** Bound on one command of a `requests` connection, and on connecting. */
export const REQUEST_COMMAND_TIMEOUT_MS = 1_000;

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function redisConfigFromEnv(env: Env): RedisConfig {
  const sentinelPassword = envString(env, 'REDIS_SENTINEL_PASSWORD', '');
  return {
    redisUrl: envString(env, 'REDIS_URL', DEFAULT_REDIS_URL),
    prefix: envString(env, 'FABRIC_PREFIX', 'fabric'),
    ...(sentinelPassword ? { sentinelPassword } : {}),
  };
}

/**
 * Parses REDIS_URL: `redis://` / `rediss://` (one server), `redis+sentinel://h1:26379,h2/<master>[/<db>]`
 * (a sentinel-managed master, followed across failovers) or `redis+cluster://h1:7000,h2:7001`
 * (a Redis Cluster, these are seed nodes). A ConfigError names what is wrong.
 */
export function parseRedisConnection(url: string, extra: { sentinelPassword?: string } = {}): RedisConnectionConfig {
  return parseRedisEndpoint(url, extra);
}

const ROLE_OPTIONS: Record<RedisRole, RedisOptions> = {
  requests: { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: REQUEST_COMMAND_TIMEOUT_MS, connectTimeout: REQUEST_COMMAND_TIMEOUT_MS },
  background: { maxRetriesPerRequest: null },
};

/**
 * The one place a Redis connection is made. `extra` may add options (a connection name,
 * lazyConnect). With `log`, losing the connection is logged once per outage (not per retry).
 * Writes made in one turn of the event loop go out in one system call (store/write-coalescing.ts).
 */
export function createRedisConnection(conn: RedisConnectionConfig, role: RedisRole, extra: RedisOptions = {}, log?: Logger): RedisClient {
  const options = { ...ROLE_OPTIONS[role], ...extra };
  const redis: RedisClient =
    conn.kind === 'single' ? new Redis(conn.url, options) : conn.kind === 'sentinel' ? new Redis({ ...options, ...sentinelOptions(conn) }) : clusterClient(conn, options);
  const gauge = redisConnected.labels({ role });
  let up = false;
  redis.on('ready', () => {
    gauge.set(1);
    if (!up) log?.info({ role }, 'Redis connected');
    up = true;
  });
  redis.on('close', () => gauge.set(0));
  // Without a listener ioredis prints every failed reconnect as an unhandled error.
  redis.on('error', (err: Error) => {
    if (up) log?.warn({ role, err: err.message }, 'Redis connection lost; retrying');
    up = false;
  });
  coalesceWrites(redis);
  return redis;
}

/**
 * ioredis options for a sentinel-managed master: it asks the sentinels for the master and asks
 * again after every disconnect, so connections follow a failover on their own.
 */
function sentinelOptions(conn: Extract<RedisConnectionConfig, { kind: 'sentinel' }>): RedisOptions {
  return {
    sentinels: conn.sentinels.map((x) => ({ host: x.host, port: x.port })),
    name: conn.masterName,
    db: conn.db,
    ...(conn.username ? { username: conn.username } : {}),
    ...(conn.password ? { password: conn.password } : {}),
    ...(conn.sentinelPassword ? { sentinelPassword: conn.sentinelPassword } : {}),
    ...(conn.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
  };
}

/**
 * An ioredis Cluster from its seed nodes. Options meant for one connection go to every node's
 * connection, except those the cluster client takes itself: the offline queue, lazy connect and
 * the reconnect strategy (for the cluster as a whole).
 */
function clusterClient(conn: Extract<RedisConnectionConfig, { kind: 'cluster' }>, options: RedisOptions): Cluster {
  const { enableOfflineQueue, lazyConnect, retryStrategy, sentinelRetryStrategy: _unused, ...nodeOptions } = options;
  return new Cluster(
    conn.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
      ...(lazyConnect !== undefined ? { lazyConnect } : {}),
      ...(retryStrategy !== undefined ? { clusterRetryStrategy: retryStrategy } : {}),
      redisOptions: {
        ...nodeOptions,
        ...(conn.username ? { username: conn.username } : {}),
        ...(conn.password ? { password: conn.password } : {}),
        ...(conn.tls ? { tls: {} } : {}),
      },
    },
  );
}

/** How long a start waits for Redis before it gives up. */
export const STARTUP_REDIS_TIMEOUT_MS = 5_000;

/** Waits for Redis at start; a StartupError names REDIS_URL when it does not answer. */
export async function awaitRedisAtStart(redis: RedisClient, url: string): Promise<void> {
  try {
    await waitUntilReady(redis, STARTUP_REDIS_TIMEOUT_MS);
  } catch {
    throw new StartupError(`no Redis answers at ${url} (REDIS_URL) within ${STARTUP_REDIS_TIMEOUT_MS / 1000} s; start Redis there or point REDIS_URL at one`);
  }
}

export interface ApiConnections {
  /** For request handlers: fails fast while Redis is away. */
  readonly requests: RedisClient;
  /** For BullMQ workers and subscribers: waits Redis out. */
  readonly background: RedisClient;
  disconnect(): void;
}

/** The API's two connections, connected (or a StartupError). */
export async function connectForRequests(cfg: Pick<RedisConfig, 'redisUrl' | 'sentinelPassword'>, log?: Logger): Promise<ApiConnections> {
  const url = cfg.redisUrl;
  const conn = parseRedisConnection(url, cfg);
  const requests = createRedisConnection(conn, 'requests', {}, log);
  const background = createRedisConnection(conn, 'background', {}, log);
  const disconnect = () => {
    requests.disconnect();
    background.disconnect();
  };
  try {
    await Promise.all([awaitRedisAtStart(requests, url), awaitRedisAtStart(background, url)]);
  } catch (err) {
    disconnect();
    throw err;
  }
  return { requests, background, disconnect };
}

/** Resolves once `redis` is connected, or rejects after `timeoutMs`. */
export async function waitUntilReady(redis: RedisClient, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/** A background connection (BullMQ workers, the scheduler) and the key builder. */
export function connectRedis(cfg: RedisConfig, log?: Logger): { redis: RedisClient; keys: Keys } {
  const keys = createKeys(cfg.prefix); // first: a bad prefix must not leave a connection open
  return { redis: createRedisConnection(parseRedisConnection(cfg.redisUrl, cfg), 'background', {}, log), keys };
}

/**
 * Waits until `replicas` replicas acknowledged every write this connection made so far
 * (Redis WAIT), at most `timeoutMs`; returns how many did. On a cluster WAIT runs on every
 * master's connection at once (a master this connection wrote nothing to answers at once) and
 * the fewest acknowledgements count.
 */
export async function waitForReplicas(redis: RedisClient, replicas: number, timeoutMs: number): Promise<number> {
  if (!isCluster(redis)) return Number(await redis.call('WAIT', replicas, timeoutMs));
  const acks = await Promise.all(redis.nodes('master').map(async (node) => Number(await node.call('WAIT', replicas, timeoutMs))));
  return acks.length > 0 ? Math.min(...acks) : 0;
}

/** True for an error that means Redis is unreachable now (not a bad command): answer 503, retry later. */
export function isRedisUnavailable(err: unknown): boolean {
  const e = err as { name?: string; message?: string; code?: string } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (typeof e.code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EHOSTUNREACH)$/.test(e.code)) return true;
  return /enableOfflineQueue|Connection is closed|Command timed out|Stream isn't writeable|connect ETIMEDOUT|ECONNREFUSED/i.test(e.message ?? '');
}
