/**
 * High availability across real processes: two `scheduler/main.ts` processes share one lease;
 * killing the leader with SIGKILL (no release, no cleanup) hands the lease to the standby,
 * which then acts on a wake.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { queueNameFor } from '../protocol/model-names.ts';
import type { ControlCommand } from '../protocol/control.ts';
import type { CatalogEntry, Heartbeat } from '../protocol/worker-state.ts';
import { newRedis, redisUrl, testKeys } from './support/redis.ts';
import { heartbeatOf } from './support/heartbeats.ts';

const redis = newRedis();
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});
afterAll(() => redis.quit());

interface SchedulerProcess {
  id: string;
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  lines: Record<string, unknown>[];
}

function spawnScheduler(id: string, prefix: string): SchedulerProcess {
  const child = spawn(process.execPath, ['scheduler/main.ts'], {
    cwd: process.cwd(),
    env: {
      ...process.env,
      REDIS_URL: redisUrl(),
      FABRIC_PREFIX: prefix,
      FABRIC_SCHEDULER_PORT: '0',
      FABRIC_SCHEDULER_ID: id,
      // A long tick: whatever the new leader does below, a wake (or its takeover) caused it.
      FABRIC_SCHEDULER_TICK: '60s',
      // Takeover comes at most one TTL after the leader's last renewal, plus the standby's
      // retry: with the 5 s default a kill right after a renewal lands a few ms past 5 s.
      // A 4 s lease makes "within 5 s" hold for every kill time.
      FABRIC_SCHEDULER_LEASE_TTL: '4s',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: SchedulerProcess = { id, child, lines: [] };
  let buf = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        p.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Not a log line (a runtime notice); ignored.
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM' && stderr) console.error(`scheduler ${id} exited ${code}: ${stderr}`);
  });
  cleanups.push(() => stopProcess(child));
  return p;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(t);
}

async function until<T>(fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs: number, what: string, everyMs = 10): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const logged = (p: SchedulerProcess, msg: string, fields: Record<string, unknown> = {}) =>
  p.lines.some((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v));

const MODEL = 'tiny:latest';

function heartbeat(workerId: string): Heartbeat {
  const now = Date.now();
  return heartbeatOf(workerId, 8e9, now, { startedAt: now });
}

const catalogEntry: CatalogEntry = {
  name: MODEL,
  sizeBytes: 1e9,
  engine: 'fake',
  family: null,
  parameterSize: null,
  quantization: null,
  digest: null,
  modifiedAt: '',
  contextLength: null,
  estimatedBytes: null,
};

describe('scheduler processes', () => {
  it('hand the lease to the standby within 5 s of the leader being SIGKILLed, and the standby then acts on a wake', async () => {
    const keys = testKeys();
    const procs = [spawnScheduler('sched-a', keys.prefix), spawnScheduler('sched-b', keys.prefix)];
    // Both up: one holds the lease, the other has made its first attempt and stands by.
    const leaderId = await until(() => redis.get(keys.schedulerLease()), 20_000, 'a leader');
    const leader = procs.find((p) => p.id === leaderId)!;
    const standby = procs.find((p) => p.id !== leaderId)!;
    await until(() => logged(standby, 'Lease state changed', { state: 'standby' }), 20_000, 'the standby up');
    await until(() => logged(leader, 'Scheduler leadership changed', { leader: true }), 5_000, 'the leader acting');

    const exited = new Promise((r) => leader.child.once('exit', r));
    leader.child.kill('SIGKILL');
    const killedAt = Date.now();
    await exited;
    // The dead leader's key outlives it: nothing released it.
    expect(await redis.get(keys.schedulerLease())).toBe(leaderId);
    await until(async () => (await redis.get(keys.schedulerLease())) === standby.id, 6_000, 'the standby holding the lease', 20);
    const takeoverMs = Date.now() - killedAt;
    console.log(`lease takeover after SIGKILL: ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThan(5_000);
    await until(() => logged(standby, 'Scheduler leadership changed', { leader: true }), 1_000, 'the standby announcing leadership');

    // The new leader acts: a job for a cold model and a wake produce a load on the only worker.
    await redis.multi().set(keys.workerHeartbeat('w1'), JSON.stringify(heartbeat('w1')), 'PX', 60_000).sadd(keys.workersIndex(), 'w1').exec();
    await redis.hset(keys.catalog(), MODEL, JSON.stringify(catalogEntry));
    const q = new Queue(queueNameFor(MODEL), { connection: redis, prefix: keys.bullPrefix });
    cleanups.push(() => q.close());
    await q.add('generate', { model: MODEL }, { priority: 5 });
    await redis.publish(keys.schedulerWake(), MODEL);
    const rows = await until(() => redis.xrange(keys.workerControl('w1'), '-', '+').then((r) => r.length > 0 && r), 2_000, 'a load command');
    const cmds = rows.map(([, kv]) => JSON.parse(kv[kv.indexOf('command') + 1]!) as ControlCommand);
    expect(cmds).toMatchObject([{ type: 'load', model: MODEL }]);
    await until(() => logged(standby, 'Scheduler action', { action: 'load', model: MODEL, worker: 'w1' }), 1_000, 'the new leader logging its action');
  });
});
