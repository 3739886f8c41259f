/**
 * Honest start-up for every entry point: a start that cannot succeed (a bad variable, a port in
 * use, a Redis that does not answer) ends the process with exit code 1 and one line on stderr
 * saying what to fix, after undoing what it started (a private redis-server, connections).
 */
import { ConfigError } from './env.ts';

/** A start-up failure whose message says what to fix. */
export class StartupError extends Error {}

export type Cleanup = () => void | Promise<void>;

/** What a start registers to undo if it fails later. */
export class StartupCleanups {
  private readonly steps: Cleanup[] = [];

  add(step: Cleanup): void {
    this.steps.push(step);
  }

  /** Runs every step, newest first; each failure is ignored so the rest still run. */
  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch {
        // best effort: the process is exiting
      }
    }
  }
}

/** The line printed for a failed start. */
export function startupMessage(component: string, err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const known = err instanceof ConfigError || err instanceof StartupError;
  return `inference-fabric ${component} did not start: ${known ? text : `unexpected error: ${text.split('\n')[0]}`}`;
}

/** Runs `start`; on failure undoes what it registered, prints one line and exits with code 1. */
export async function startOrExit<T>(component: string, start: (cleanups: StartupCleanups) => Promise<T>): Promise<T> {
  const cleanups = new StartupCleanups();
  try {
    return await start(cleanups);
  } catch (err) {
    await cleanups.run();
    process.stderr.write(`${startupMessage(component, err)}\n`);
    process.exit(1);
  }
}

/** A listen error as a StartupError that names the fix. */
export function listenError(err: NodeJS.ErrnoException, what: string, host: string, port: number, variable: string): Error {
  if (err.code === 'EADDRINUSE') return new StartupError(`${what}: port ${port} on ${host} is already in use; stop what holds it or set ${variable} to another port`);
  if (err.code === 'EACCES') return new StartupError(`${what}: no permission to listen on port ${port}; set ${variable} to a port above 1023`);
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') return new StartupError(`${what}: cannot listen on host ${host}; set HOST to an address of this machine`);
  return err;
}
