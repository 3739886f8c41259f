import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OllamaServeSupervisor } from '../worker/engines/ollama/serve-supervisor.ts';
import { log } from './support/fabric.ts';

const FAKE = join(process.cwd(), 'test/support/fake-ollama-serve.mjs');
const running: OllamaServeSupervisor[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop();
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function supervisor(command = FAKE, readyTimeoutMs = 5_000): Promise<{ s: OllamaServeSupervisor; url: string }> {
  const url = `http://127.0.0.1:${await freePort()}`;
  const s = new OllamaServeSupervisor({ command, url, readyTimeoutMs, stopTimeoutMs: 2_000 }, log);
  running.push(s);
  return { s, url };
}

describe('ollama serve supervisor', () => {
  it('starts `ollama serve` on the URL the engine uses, waits until it answers, and stops it', async () => {
    const { s, url } = await supervisor();
    await s.start();
    expect(s.current).toBe('running');
    expect(await (await fetch(`${url}/api/version`)).json()).toEqual({ version: '0.0.0-fake' });
    await s.stop();
    expect(s.current).toBe('stopped');
    await expect(fetch(`${url}/api/version`)).rejects.toThrow();
    await s.stop(); // idempotent
  });

  it('reports an exit it did not ask for, so the worker can exit with it', async () => {
    const { s } = await supervisor();
    const exits: (number | null | string)[] = [];
    s.onExit((code, signal) => exits.push(signal ?? code));
    await s.start();
    process.kill(s.pid!, 'SIGKILL');
    await new Promise<void>((r) => {
      const t = setInterval(() => exits.length > 0 && (clearInterval(t), r()), 20);
    });
    expect(exits).toEqual(['SIGKILL']);
    expect(s.current).toBe('exited');
  });

  it('fails to start with a clear error when the binary is missing or exits without answering', async () => {
    const missing = await supervisor('/nonexistent/ollama');
    await expect(missing.s.start()).rejects.toThrow(/cannot start \/nonexistent\/ollama serve/);
    // `false serve` exits at once with status 1.
    const quits = await supervisor('false');
    await expect(quits.s.start()).rejects.toThrow(/exited before it answered/);
  });
});
