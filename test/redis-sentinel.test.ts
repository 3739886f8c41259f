/**
 * The fabric on a sentinel-managed Redis: a master, one replica and three sentinels, all real
 * processes. The master is SIGKILLed while jobs are being submitted; the sentinels promote the
 * replica and the fabric (API and worker in this process) must follow it without losing a job
 * it accepted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connectRedis } from '../store/redis-config.ts';
import { call, startFabric, waitFor, type TestFabric } from './support/fabric.ts';
import { RedisTopology, tearDown } from './support/redis-topology.ts';

let topology: RedisTopology | undefined;
let f: TestFabric | undefined;
afterEach(async () => {
  await tearDown(f, topology);
  f = topology = undefined;
});

describe('Redis Sentinel', () => {
  it('fails over on a SIGKILLed master under load: serves again within 30 s and loses no accepted job', async () => {
    topology = new RedisTopology();
    const group = await topology.startSentinelGroup('fabricmaster');
    const url = `redis+sentinel://${group.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/fabricmaster`;
    const { redis, keys } = connectRedis({ redisUrl: url, prefix: `sentinel-${Date.now()}` });
    redis.on('error', () => undefined); // reconnects are expected here
    // Every accepted job is on the replica before its 202: the promoted replica has them all.
    f = await startFabric({ replicaAcks: 1 }, {}, { redis, keys });
    await f.addWorker({ tokensPerSecond: 0 }, { preload: ['fake-small:latest'] });
    const fabric = f;

    const accepted: string[] = [];
    let refused = 0;
    let killedAt = 0;
    let firstAcceptedAfterKill = 0;
    let stop = false;
    const submit = async (n: number): Promise<void> => {
      const sentAt = Date.now();
      try {
        const r = await fetch(`${fabric.url}/v1/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'fake-small', input: { prompt: `job ${n}`, options: { num_predict: 3 } } }),
          signal: AbortSignal.timeout(40_000),
        });
        const body = (await r.json()) as { id?: string };
        if (r.status === 202 && body.id) {
          accepted.push(body.id);
          if (killedAt > 0 && sentAt >= killedAt && firstAcceptedAfterKill === 0) firstAcceptedAfterKill = Date.now();
        } else refused++;
      } catch {
        refused++;
      }
    };
    // Four submitters, each sending its next job as soon as the last one is answered.
    const load = Promise.all(
      [0, 1, 2, 3].map(async (lane) => {
        for (let n = lane; !stop; n += 4) {
          await submit(n);
          await new Promise((r) => setTimeout(r, 10));
        }
      }),
    );
    await waitFor(async () => accepted.length >= 40, 15_000);
    const acceptedBeforeKill = accepted.length;
    group.master.child.kill('SIGKILL');
    killedAt = Date.now();
    await waitFor(async () => firstAcceptedAfterKill > 0, 30_000, 50);
    const recoveryMs = firstAcceptedAfterKill - killedAt;
    // Keep the load on a little longer on the promoted master, then drain.
    await new Promise((r) => setTimeout(r, 1_000));
    stop = true;
    await load;
    console.info(
      `sentinel failover: first job accepted ${recoveryMs} ms after SIGKILL of the master; ${accepted.length} jobs accepted (${acceptedBeforeKill} before the kill), ${refused} refused or unanswered`,
    );

    const statuses = new Map<string, string>();
    await waitFor(async () => {
      for (const id of accepted) {
        if (statuses.get(id) === 'succeeded') continue;
        const r = await call(fabric.url, `/v1/jobs/${id}`);
        statuses.set(id, r.status === 200 ? r.json.status : `http ${r.status}`);
      }
      return accepted.every((id) => statuses.get(id) === 'succeeded');
    }, 30_000, 200).catch(() => undefined);
    const notDone = accepted.filter((id) => statuses.get(id) !== 'succeeded').map((id) => `${id}: ${statuses.get(id)}`);
    expect(notDone).toEqual([]);
    expect(accepted.length).toBeGreaterThan(acceptedBeforeKill);
    expect(recoveryMs).toBeLessThan(30_000);
    // The promoted replica is the master the fabric now writes to.
    const role = (await fabric.redis.call('ROLE')) as [string];
    expect(role[0]).toBe('master');
  }, 120_000);
});
