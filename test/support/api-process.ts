/**
 * The API as its own process (`producer-api/main.ts`) on a fixed port, so a test can kill it
 * for real (SIGKILL: no cleanup, connections reset) and start it again at the same address.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { generateWebhookSecret } from '../../protocol/webhook-signing.ts';
import { redisUrl } from './redis.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface ApiProcess {
  url: string;
  /** Starts the process and resolves once `/healthz` answers. */
  start(): Promise<void>;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  readonly running: boolean;
}

export async function apiProcess(prefix: string, env: Record<string, string> = {}): Promise<ApiProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const secret = generateWebhookSecret();
  return {
    url,
    get running() {
      return child !== null && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      child = spawn(process.execPath, ['producer-api/main.ts'], {
        env: { ...process.env, REDIS_URL: redisUrl(), FABRIC_PREFIX: prefix, PORT: String(port), HOST: '127.0.0.1', FABRIC_WEBHOOK_SECRET: secret, LOG_LEVEL: 'error', ...env },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      const until = Date.now() + 30_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`API process exited with ${child.exitCode}`);
        try {
          if ((await fetch(`${url}/healthz`)).ok) return;
        } catch {
          // not listening yet
        }
        if (Date.now() > until) throw new Error('API process did not answer /healthz within 30 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async kill() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    },
  };
}
