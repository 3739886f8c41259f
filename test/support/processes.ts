/** Spawning the fabric's own entry points as separate processes, as an operator runs them. */
import { spawn, type ChildProcess } from 'node:child_process';

/** Starts `entry` (e.g. producer-api/main.ts) with `env` over the test's environment. */
export function spawnEntry(entry: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [entry], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with the exit code (and the output) once `child` exits. */
export function exited(child: ChildProcess): Promise<{ code: number | null; out: string }> {
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

/** Stops `child` (SIGTERM, then SIGKILL after `graceMs`). */
export async function stopChild(child: ChildProcess | undefined, graceMs = 5_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await done;
  clearTimeout(t);
}
