/**
 * Runs `ollama serve` as the worker's child, in the one container that owns the GPU, so the
 * worker reads NVML itself (no hard-coded VRAM size). Start waits until the server answers
 * `GET /api/version`; an exit the worker did not ask for is reported through `onExit` (the
 * worker then exits and its pod or container restarts, both together). Stop sends SIGTERM and,
 * after `stopTimeoutMs`, SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../../../protocol/logger.ts';

export interface OllamaServeOptions {
  /** The `ollama` binary (FABRIC_OLLAMA_COMMAND). */
  command: string;
  /** Where the server listens, as the engine reaches it (OLLAMA_URL); its host:port becomes OLLAMA_HOST. */
  url: string;
  readyTimeoutMs: number;
  stopTimeoutMs: number;
}

export type ServeState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' | 'exited';

export class OllamaServeSupervisor {
  private child: ChildProcess | null = null;
  private state: ServeState = 'idle';
  private exitListeners: ((code: number | null, signal: NodeJS.Signals | null) => void)[] = [];
  private exited: Promise<void> = Promise.resolve();

  private readonly opts: OllamaServeOptions;
  private readonly log: Logger;
  constructor(
    opts: OllamaServeOptions,
    log: Logger,
  ) {
    this.opts = opts;
    this.log = log;
  }

  get current(): ServeState {
    return this.state;
  }

  /** The child's process id while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Called once if the server exits while it should be running. */
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.exitListeners.push(listener);
  }

  /** Spawns `ollama serve` and resolves once it answers; throws (and kills it) if it does not in time. */
  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`ollama serve supervisor is ${this.state}`);
    this.setState('starting');
    const host = new URL(this.opts.url).host;
    const child = spawn(this.opts.command, ['serve'], { env: { ...process.env, OLLAMA_HOST: host }, stdio: ['ignore', 'inherit', 'inherit'] });
    this.child = child;
    let spawnFailed: (err: Error) => void = () => undefined;
    const spawnError = new Promise<never>((_, reject) => (spawnFailed = reject));
    spawnError.catch(() => undefined);
    this.exited = new Promise((resolve) => {
      // A binary that cannot be started emits 'error' and never 'exit'.
      child.once('error', (err) => {
        this.setState('exited');
        spawnFailed(new Error(`cannot start ${this.opts.command} serve: ${err.message}`));
        resolve();
      });
      child.once('exit', (code, signal) => {
        const unexpected = this.state === 'starting' || this.state === 'running';
        this.setState(unexpected ? 'exited' : 'stopped');
        if (unexpected) {
          this.log.error({ code, signal }, 'ollama serve exited');
          for (const l of this.exitListeners) l(code, signal);
        }
        resolve();
      });
    });
    try {
      await Promise.race([this.waitReady(), spawnError]);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.setState('running');
  }

  private async waitReady(): Promise<void> {
    const until = Date.now() + this.opts.readyTimeoutMs;
    const url = new URL('/api/version', this.opts.url);
    for (;;) {
      if (this.state !== 'starting') throw new Error('ollama serve exited before it answered');
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error(`ollama serve did not answer ${url.href} within ${this.opts.readyTimeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Idempotent: SIGTERM, then SIGKILL after the stop timeout; resolves once the child is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || this.state === 'stopped' || this.state === 'exited') return;
    if (this.state !== 'stopping') {
      this.setState('stopping');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), this.opts.stopTimeoutMs);
      timer.unref();
      void this.exited.then(() => clearTimeout(timer));
    }
    await this.exited;
  }

  private setState(state: ServeState): void {
    this.state = state;
    this.log.info({ state, command: this.opts.command }, 'ollama serve state changed');
  }
}
