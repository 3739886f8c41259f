/**
 * The worker's side of an operator's pull and delete (`POST /api/pull`, `DELETE /api/delete`):
 * each runs beside the control stream, not in its line (a pull may take hours; loads and
 * unloads must not wait behind it), and reports on the request's stream (protocol/pull.ts).
 */
import type { RedisClient } from '../store/redis-client.ts';
import { appendPullReport } from '../store/pull-reports.ts';
import type { ControlCommand } from '../protocol/control.ts';
import { EngineError } from '../protocol/errors.ts';
import type { Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import type { PullReport } from '../protocol/pull.ts';
import type { Engine, LoadProgress } from './engines/port/engine.ts';

type PullCommand = Extract<ControlCommand, { type: 'pull' }>;
type DeleteCommand = Extract<ControlCommand, { type: 'delete' }>;

export interface ModelAdminDeps {
  workerId: string;
  engine: Engine;
  redis: RedisClient;
  keys: Keys;
  log: Logger;
  /** Stops taking the model's jobs, lets running ones finish, unloads it. */
  unload(model: string): Promise<void>;
  /** Writes the engine's catalog again (a pulled model joins it). */
  publishCatalog(): Promise<void>;
}

/** Byte progress is reported at most this often per pull; status changes always. */
const PROGRESS_EVERY_MS = 250;

export class ModelAdmin {
  private readonly d: ModelAdminDeps;
  private readonly running = new Set<Promise<void>>();
  constructor(d: ModelAdminDeps) {
    this.d = d;
  }

  /** Starts the command and returns at once. */
  start(cmd: PullCommand | DeleteCommand): void {
    const work = (cmd.type === 'pull' ? this.pull(cmd) : this.delete(cmd)).finally(() => this.running.delete(work));
    this.running.add(work);
  }

  /** Commands in flight, for tests and a graceful close. */
  idle(): Promise<void> {
    return Promise.allSettled([...this.running]).then(() => undefined);
  }

  private report(requestId: string, r: PullReport): Promise<void> {
    return appendPullReport(this.d.redis, this.d.keys, requestId, r).catch((err) => this.d.log.warn({ requestId, err }, 'Writing a pull report failed'));
  }

  private async fail(cmd: PullCommand | DeleteCommand, err: unknown): Promise<void> {
    const code = err instanceof EngineError ? err.code : 'engine_error';
    const message = err instanceof Error ? err.message : String(err);
    this.d.log.warn({ model: cmd.model, command: cmd.type, code, err: message }, 'Model command failed');
    await this.report(cmd.requestId, { worker: this.d.workerId, error: message, code });
  }

  private async pull(cmd: PullCommand): Promise<void> {
    const { engine, workerId } = this.d;
    if (!engine.pull) return this.fail(cmd, new EngineError('invalid_request', `the ${engine.kind} engine cannot pull models`));
    let lastStatus = '';
    let lastAt = 0;
    let chain = Promise.resolve();
    const onProgress = (p: LoadProgress) => {
      const now = Date.now();
      const whole = p.total !== undefined && p.completed === p.total;
      if (p.status === lastStatus && !whole && now - lastAt < PROGRESS_EVERY_MS) return;
      lastStatus = p.status;
      lastAt = now;
      // In order: one write after the other.
      chain = chain.then(() => this.report(cmd.requestId, { worker: workerId, status: p.status, ...(p.completed !== undefined ? { completed: p.completed } : {}), ...(p.total !== undefined ? { total: p.total } : {}) }));
    };
    try {
      await engine.pull(cmd.model, { onProgress: (p) => p.status !== 'success' && onProgress(p), ...(cmd.url ? { url: cmd.url } : {}), ...(cmd.sha256 ? { sha256: cmd.sha256 } : {}) });
      await chain;
      await this.d.publishCatalog();
      await this.report(cmd.requestId, { worker: workerId, done: true });
      this.d.log.info({ model: cmd.model }, 'Model pulled on request');
    } catch (err) {
      await chain;
      await this.fail(cmd, err);
    }
  }

  private async delete(cmd: DeleteCommand): Promise<void> {
    try {
      await this.d.unload(cmd.model);
      await this.d.engine.remove?.(cmd.model);
      await this.report(cmd.requestId, { worker: this.d.workerId, done: true });
      this.d.log.info({ model: cmd.model }, 'Model deleted on request');
    } catch (err) {
      await this.fail(cmd, err);
    }
  }
}
