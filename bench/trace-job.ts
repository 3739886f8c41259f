/**
 * Shows, command by command, what one job costs in Redis: runs one `POST /v1/jobs` and one
 * `POST /v1/run` against the in-process fabric under MONITOR and prints every command a client
 * sent (commands run inside Lua scripts are only counted), with its connection and time.
 *
 *   node bench/trace-job.ts
 */
import { createLogger } from '../protocol/logger.ts';
import { startBenchFabric } from './fabric-harness.ts';
import { JsonClient } from './http-client.ts';
import { startPrivateRedis } from './private-redis.ts';
import { SUBMIT_JSON } from './workload.ts';

interface Traced {
  at: number;
  source: string;
  args: string[];
}

/** Connection address -> name (CLIENT LIST), so the trace says `fabric-api`, not a port. */
async function clientNames(list: string): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const line of list.split('\n')) {
    const addr = /\baddr=(\S+)/.exec(line)?.[1];
    const name = /\bname=(\S*)/.exec(line)?.[1];
    const id = /\bid=(\d+)/.exec(line)?.[1];
    if (addr) names.set(addr, `${name || 'unnamed'}#${id}`);
  }
  return names;
}

const short = (args: string[]) =>
  args
    .map((a) => (a.length > 48 ? `${a.slice(0, 45)}...` : a))
    .slice(0, 6)
    .join(' ') + (args.length > 6 ? ` (+${args.length - 6} args)` : '');

async function main(): Promise<void> {
  const log = createLogger('bench', 'warn');
  const redis = await startPrivateRedis();
  let settle: (() => void) | null = null;
  const fabric = await startBenchFabric({
    redis,
    log,
    slots: 16,
    onStatus: (_id, status) => {
      if (status === 'succeeded') settle?.();
    },
  });
  const client = new JsonClient(fabric.url, 4);
  const admin = redis.connect();
  const monitorConn = redis.connect();
  try {
    for (let i = 0; i < 20; i++) await client.post('/v1/run', SUBMIT_JSON); // warm every path
    for (const path of ['/v1/jobs', '/v1/run']) {
      const names = await clientNames((await admin.call('CLIENT', 'LIST')) as string);
      const monitor = await monitorConn.monitor();
      const traced: Traced[] = [];
      let inLua = 0;
      monitor.on('monitor', (time: string, args: string[], source: string) => {
        if (source === 'lua') inLua++;
        else traced.push({ at: Number(time) * 1000, source: names.get(source) ?? source, args });
      });
      const done = new Promise<void>((r) => (settle = r));
      const t0 = Date.now();
      const res = await client.post(path, SUBMIT_JSON);
      await done;
      await new Promise((r) => setTimeout(r, 100));
      monitor.disconnect();
      const own = traced.filter((t) => !['monitor', 'info', 'client'].includes(t.args[0]!.toLowerCase()));
      const first = own[0]?.at ?? t0;
      process.stdout.write(`\n## ${path} -> HTTP ${res.status}: ${own.length} commands from clients (+${inLua} inside Lua)\n\n`);
      for (const t of own) process.stdout.write(`${(t.at - first).toFixed(2).padStart(7)} ms  ${t.source.padEnd(20)} ${short(t.args)}\n`);
    }
  } finally {
    admin.disconnect();
    monitorConn.disconnect();
    await client.close();
    await fabric.close();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`trace failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
