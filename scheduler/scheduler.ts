/**
 * The scheduler process: snapshot -> decide -> apply, run on every wake from the API (a job
 * landed in a cold queue) and on a periodic tick, by the lease holder only. Wakes that arrive
 * while a decision runs coalesce into one more run right after it.
 */
import { randomUUID } from 'node:crypto';
import { duplicateClient, type RedisClient } from '../store/redis-client.ts';
import type { Keys } from '../protocol/keys.ts';
import type { Logger } from '../protocol/logger.ts';
import { sendControl } from '../store/control-stream.ts';
import { type ControlCommand } from '../protocol/control.ts';
import { recordDecision } from '../store/decision-stream.ts';
import { type SchedulerDecision } from '../protocol/decisions.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
import { blockedModels, decide, type Action } from './decide.ts';
import { LeaderLease } from './leader-lease.ts';
import { schedulerMetrics } from './metrics.ts';
import { schedulerOptions, type SchedulerOptions } from './options.ts';
import { PendingCommands } from './pending-commands.ts';
import type { SchedulerPolicy } from './policy.ts';
import { LogScaleActuator, type ScaleActuator } from './actuators/scale-actuator.ts';
import { settleWithin } from './settle-within.ts';
import { readSnapshot } from './snapshot.ts';

export type SchedulerState = 'idle' | 'starting' | 'running' | 'closing' | 'closed';

/** What started a decision run. */
export type DecisionTrigger = 'wake' | 'idle' | 'tick' | 'leader' | 'manual' | 'coalesced';

export interface SchedulerDeps {
  /** Shared connection for reads, commands and the lease; the scheduler duplicates it to subscribe. */
  redis: RedisClient;
  keys: Keys;
  log: Logger;
  scaler?: ScaleActuator;
  clock?: () => number;
}

type CommandAction = Extract<Action, { type: 'load' | 'unload' | 'stage' | 'drain' }>;
type ScaleAction = Extract<Action, { type: 'scale' }>;

export class Scheduler {
  readonly options: SchedulerOptions;
  private state: SchedulerState = 'idle';
  private readonly lease: LeaderLease;
  private readonly pending: PendingCommands;
  private readonly scaler: ScaleActuator;
  /** The options' policy, less what the actuator cannot do (drains, for one that removes no worker). */
  private readonly policy: SchedulerPolicy;
  private readonly clock: () => number;
  private sub: RedisClient | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private again = false;
  /** The last decision left jobs waiting on a model with no replica (no room): idle signals then trigger a decision. */
  private blocked = true;
  /** Models named by wakes since the last snapshot; read even if missing from the catalog. */
  private readonly hints = new Set<string>();
  private lastScale = '';
  /** The worker count last asked for and when it changed: the scale-down cool-down's input to `decide`. */
  private lastDesired: string | undefined;
  private lastScaleAt: number | undefined;
  private starting: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** Aborted when close() begins, so a start stuck on an unreachable Redis gives up. */
  private readonly closed = new AbortController();

  private readonly deps: SchedulerDeps;
  constructor(
    deps: SchedulerDeps,
    options: SchedulerOptions = schedulerOptions(),
  ) {
    this.deps = deps;
    this.options = options;
    this.clock = deps.clock ?? Date.now;
    this.pending = new PendingCommands(options.pendingTtlMs);
    this.scaler = deps.scaler ?? new LogScaleActuator(deps.log);
    // An actuator that cannot remove a worker gets no drains: the worker would stay up, empty, for good.
    this.policy = this.scaler.removesWorkers === false ? { ...options.policy, drainWorkers: false } : options.policy;
    this.lease = new LeaderLease(deps.redis, deps.keys.schedulerLease(), deps.log, { ...options.lease, owner: options.instanceId }, (leader) =>
      this.onLeadership(leader),
    );
  }

  get lifecycle(): SchedulerState {
    return this.state;
  }

  isLeader(): boolean {
    return this.lease.isLeader();
  }

  /** Subscribes to wakes, makes the first lease attempt and starts the tick. Idempotent. */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  /** Stops ticking and listening, lets a running decision finish, releases the lease. Idempotent. */
  close(): Promise<void> {
    this.closed.abort();
    this.closing ??= this.doClose();
    return this.closing;
  }

  /**
   * Asks for a decision now. If one is running, exactly one more runs after it, however many
   * requests arrive meanwhile. Resolves when the run that covers this request has finished.
   */
  trigger(cause: DecisionTrigger, model?: string): Promise<void> {
    if (model) this.hints.add(model);
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.runLoop(cause);
    return this.inFlight;
  }

  /** Test hook: dies as a crashed process would, keeping the lease until its TTL lapses. */
  kill(): void {
    this.closed.abort();
    this.closing ??= Promise.resolve();
    if (this.timer) clearInterval(this.timer);
    this.lease.kill();
    this.sub?.disconnect();
    this.setState('closed');
  }

  private async doStart(): Promise<void> {
    if (this.closing) throw new Error('scheduler is closed');
    const { redis, keys, log } = this.deps;
    this.setState('starting');
    try {
      this.sub = duplicateClient(redis);
      this.sub.on('error', (err) => log.warn({ err }, 'Scheduler wake subscription error'));
      const idleChannel = keys.schedulerIdle();
      this.sub.on('message', (channel: string, message: string) => {
        // A worker's model went idle or its residency changed: worth a decision only while a cold
        // backlog waits for room, which is what such a change may have made.
        if (channel === idleChannel) {
          if (this.blocked) void this.trigger('idle');
        } else void this.trigger('wake', message);
      });
      await this.unlessClosed(this.sub.subscribe(keys.schedulerWake(), idleChannel));
      this.setState('running');
      await this.unlessClosed(this.lease.start());
      this.timer = setInterval(() => void this.trigger('tick'), this.options.tickMs);
    } catch (err) {
      // Not awaited: close() first waits for this start to settle, which is this rejection.
      void this.close();
      throw err;
    }
  }

  /** `p`, or a rejection as soon as close() begins; from then on close() owns teardown. */
  private unlessClosed<T>(p: Promise<T>): Promise<T> {
    const signal = this.closed.signal;
    if (signal.aborted) return Promise.reject(new Error('scheduler closed during start'));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new Error('scheduler closed during start'));
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async doClose(): Promise<void> {
    const { log } = this.deps;
    try {
      // Bounded: a start stuck on an unreachable Redis must not block shutdown.
      await settleWithin(this.starting, this.options.closeTimeoutMs);
    } catch {
      // The start failed; tear down whatever it set up.
    }
    this.setState('closing');
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    try {
      this.sub?.disconnect();
    } catch (err) {
      log.warn({ err }, 'Wake subscription close failed');
    }
    try {
      if ((await settleWithin(this.inFlight, this.options.closeTimeoutMs)) === 'timeout') {
        log.warn({ timeoutMs: this.options.closeTimeoutMs }, 'Decision still running at close; leaving it');
      }
    } catch (err) {
      log.warn({ err }, 'Decision failed during close');
    }
    try {
      await this.lease.close();
    } catch (err) {
      log.warn({ err }, 'Lease close failed');
    }
    this.setState('closed');
  }

  private onLeadership(leader: boolean): void {
    schedulerMetrics.leader.set(leader ? 1 : 0);
    this.deps.log.info({ leader, instanceId: this.options.instanceId }, 'Scheduler leadership changed');
    if (leader) void this.trigger('leader');
  }

  private async runLoop(cause: DecisionTrigger): Promise<void> {
    try {
      let trigger = cause;
      do {
        this.again = false;
        await this.runDecision(trigger);
        trigger = 'coalesced';
      } while (this.again && this.state === 'running');
    } finally {
      // Cleared in the same synchronous step as the last `again` check, so no request is lost.
      this.inFlight = null;
    }
  }

  /** One snapshot -> decide -> apply pass; never throws. */
  private async runDecision(trigger: DecisionTrigger): Promise<void> {
    if (this.state !== 'running' || !this.lease.isLeader()) return;
    const started = performance.now();
    try {
      const hints = [...this.hints];
      this.hints.clear();
      const read = this.pending.overlay(await readSnapshot(this.deps.redis, this.deps.keys, this.clock(), hints));
      const snap = this.lastScaleAt === undefined ? read : Object.freeze({ ...read, lastScaleAt: this.lastScaleAt });
      const actions = decide(snap, this.policy);
      this.blocked = blockedModels(snap, actions).length > 0;
      // Leadership can lapse while the snapshot is read; a stale leader must not act.
      if (actions.length > 0 && this.lease.isLeader()) await this.apply(actions);
    } catch (err) {
      this.deps.log.warn({ err, trigger }, 'Scheduler decision failed');
    } finally {
      schedulerMetrics.decisionDuration.observe({ trigger }, (performance.now() - started) / 1000);
    }
  }

  private async apply(actions: Action[]): Promise<void> {
    const commands = actions.filter((a): a is CommandAction => a.type !== 'scale');
    if (commands.length > 0) await this.sendCommands(commands);
    for (const a of actions) if (a.type === 'scale') await this.applyScale(a);
  }

  /** Writes all commands in one pipeline, in decision order (a victim's unload before the load it makes room for). */
  private async sendCommands(actions: CommandAction[]): Promise<void> {
    const { redis, keys, log } = this.deps;
    const at = this.clock();
    const sent = actions.map((a) => ({
      a,
      cmd: (a.type === 'drain' ? { type: 'drain', requestId: randomUUID(), at } : { type: a.type, model: a.model, requestId: randomUUID(), at }) satisfies ControlCommand,
    }));
    const p = redis.pipeline();
    for (const { a, cmd } of sent) {
      sendControl(p, keys, a.worker, cmd, this.options.controlStreamMaxLen);
    }
    // After the commands, so their replies keep their indices: the decision log the cluster view shows.
    for (const { a } of sent) recordDecision(p, keys, { at, ...describe(a) });
    const results = (await p.exec()) ?? [];
    sent.forEach(({ a, cmd }, i) => {
      const err = results[i]?.[0] ?? (results[i] ? null : new Error('no pipeline reply'));
      if (err) {
        schedulerMetrics.commandErrors.inc({ action: a.type });
        log.error({ err, action: a, requestId: cmd.requestId }, 'Scheduler command failed');
        return;
      }
      if (a.type === 'drain') {
        // A drain is a scale change: the cool-down counts from it, so no second worker drains meanwhile.
        this.lastScaleAt = at;
      } else {
        this.pending.note({ type: a.type, model: a.model, worker: a.worker, at });
      }
      schedulerMetrics.decisions.inc({ action: a.type, reason: a.reason });
      log.info({ ...describe(a), requestId: cmd.requestId }, 'Scheduler action');
    });
  }

  private async applyScale(a: ScaleAction): Promise<void> {
    schedulerMetrics.decisions.inc({ action: 'scale', reason: a.reason });
    const desired = `${a.pool ?? ''}:${a.desiredWorkers}`;
    if (desired !== this.lastDesired) {
      this.lastDesired = desired;
      this.lastScaleAt = this.clock();
    }
    // Every tick re-suggests an unchanged scale-up; only a change is worth an info line.
    const key = `${desired}|${a.reason}|${a.models.join(',')}|${a.release?.worker ?? ''}`;
    const level = key === this.lastScale ? 'debug' : 'info';
    this.lastScale = key;
    const fields = { action: 'scale', desiredWorkers: a.desiredWorkers, reason: a.reason, models: a.models, ...(a.pool ? { pool: a.pool } : {}), ...(a.release ? { release: a.release.worker } : {}) };
    this.deps.log[level](fields, 'Scheduler action');
    if (level === 'info') {
      const p = this.deps.redis.pipeline();
      recordDecision(p, this.deps.keys, { at: this.clock(), action: 'scale', desiredWorkers: a.desiredWorkers, reason: a.reason, models: a.models, ...(a.pool ? { pool: a.pool } : {}), ...(a.release ? { release: a.release.worker } : {}) });
      await p.exec().catch(() => undefined);
    }
    try {
      await this.scaler.apply(a.desiredWorkers, a.reason, { ...(a.pool ? { pool: a.pool } : {}), ...(a.release ? { release: a.release } : {}) });
    } catch (err) {
      this.deps.log.warn({ err, desiredWorkers: a.desiredWorkers }, 'Scale actuator failed');
    }
  }

  private setState(state: SchedulerState): void {
    if (state === this.state) return;
    this.state = state;
    this.deps.log.info({ state, instanceId: this.options.instanceId }, 'Scheduler state changed');
  }
}

/** The fields a command action is logged and recorded with. */
function describe(a: CommandAction): DistributiveOmit<SchedulerDecision, 'at'> {
  if (a.type === 'drain') return { action: 'drain', worker: a.worker, reason: a.reason, costMs: a.costMs, worthMs: a.worthMs };
  return { action: a.type, model: a.model, worker: a.worker, reason: a.reason, ...('forModel' in a ? { forModel: a.forModel } : {}) };
}
