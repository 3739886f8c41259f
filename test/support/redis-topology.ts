/**
 * Real multi-process Redis topologies for tests: a master with a replica and sentinels, or a
 * Redis Cluster. Every process started is remembered and `stop()` kills them all (also when the
 * test failed half way, and on process exit as a last resort).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../../bin/redis-server.ts';

export interface RedisProcess {
  readonly port: number;
  readonly child: ChildProcess;
}

export class RedisTopology {
  private readonly children: ChildProcess[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'fabric-topology-'));
  private readonly onExit = () => this.killAll();

  constructor() {
    process.once('exit', this.onExit);
  }

  /** A redis-server (or sentinel, with `--sentinel` in `args`) on a free port, answering PING. */
  async start(args: string[], opts: { config?: string } = {}): Promise<RedisProcess> {
    const port = await freePort();
    const dir = mkdtempSync(join(this.dir, `p${port}-`));
    const argv: string[] = [];
    if (opts.config !== undefined) {
      const file = join(dir, 'redis.conf');
      writeFileSync(file, `port ${port}\nbind 127.0.0.1\ndir ${dir}\n${opts.config}\n`);
      argv.push(file);
    } else argv.push('--port', String(port), '--bind', '127.0.0.1', '--dir', dir);
    argv.push('--save', '', '--appendonly', 'no', ...args);
    const child = spawn('redis-server', argv, { stdio: 'ignore' });
    this.children.push(child);
    await waitForPing(port, child);
    return { port, child };
  }

  /** A master, one replica in sync with it and `sentinels` sentinels watching it as `masterName`. */
  async startSentinelGroup(masterName: string, sentinels = 3, quorum = 2): Promise<{ master: RedisProcess; replica: RedisProcess; sentinels: RedisProcess[] }> {
    const master = await this.start(['--maxmemory-policy', 'noeviction']);
    const replica = await this.start(['--maxmemory-policy', 'noeviction', '--replicaof', '127.0.0.1', String(master.port)]);
    await waitUntil(async () => (await info(replica.port, 'replication')).includes('master_link_status:up'), 10_000);
    const config = [
      `sentinel monitor ${masterName} 127.0.0.1 ${master.port} ${quorum}`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 5000`,
      `sentinel parallel-syncs ${masterName} 1`,
    ].join('\n');
    const started: RedisProcess[] = [];
    for (let i = 0; i < sentinels; i++) started.push(await this.start(['--sentinel'], { config }));
    // Ready when every sentinel knows the replica and the other sentinels (found over hello messages).
    await waitUntil(async () => {
      for (const s of started) {
        const c = probe(s.port);
        try {
          await c.connect();
          const m = (await c.call('SENTINEL', 'MASTER', masterName)) as string[];
          const fields = Object.fromEntries(m.flatMap((v, i) => (i % 2 === 0 ? [[v, m[i + 1]]] : [])));
          if (Number(fields['num-slaves']) < 1 || Number(fields['num-other-sentinels']) < sentinels - 1) return false;
        } finally {
          c.disconnect();
        }
      }
      return true;
    }, 20_000);
    return { master, replica, sentinels: started };
  }

  /**
   * A Redis Cluster of `masters` masters and no replicas, from `redis-server --cluster-enabled yes`
   * and `redis-cli --cluster create`; resolves once every node reports `cluster_state:ok`.
   */
  async startCluster(masters = 3): Promise<RedisProcess[]> {
    const nodes: RedisProcess[] = [];
    for (let i = 0; i < masters; i++) {
      nodes.push(await this.start(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', '2000', '--maxmemory-policy', 'noeviction']));
    }
    await promisify(execFile)('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    await waitUntil(async () => {
      for (const n of nodes) if (!(await clusterInfo(n.port)).includes('cluster_state:ok')) return false;
      return true;
    }, 20_000);
    return nodes;
  }

  /** Kills every process started (SIGKILL: nothing to flush) and removes their folders. Idempotent. */
  async stop(): Promise<void> {
    const exits = this.children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => new Promise((r) => c.once('exit', r)));
    this.killAll();
    await Promise.all(exits);
    process.removeListener('exit', this.onExit);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private killAll(): void {
    for (const c of this.children) {
      try {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** A one-shot connection that neither retries nor reports a refused connect (the caller sees the rejection). */
function probe(port: number): Redis {
  const c = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  return c;
}

async function info(port: number, section: string): Promise<string> {
  const c = probe(port);
  try {
    await c.connect();
    return await c.info(section);
  } catch {
    return '';
  } finally {
    c.disconnect();
  }
}

async function clusterInfo(port: number): Promise<string> {
  const c = probe(port);
  try {
    await c.connect();
    return String(await c.call('CLUSTER', 'INFO'));
  } catch {
    return '';
  } finally {
    c.disconnect();
  }
}

async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  await waitUntil(async () => {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with code ${child.exitCode}`);
    const c = probe(port);
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }, 10_000);
}

export async function waitUntil(fn: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** After-each cleanup for a test that ran a fabric on a topology: the fabric first, then every process. */
export async function tearDown(fabric: { close(): Promise<void> } | undefined, topology: RedisTopology | undefined): Promise<void> {
  await fabric?.close().catch(() => undefined);
  await topology?.stop();
}
