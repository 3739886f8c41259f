/**
 * Runs one job on the engine: the BullMQ processor for a resident model. It owns the job's
 * status transitions on the worker side (running, then a terminal status or back to queued
 * for a retry) and is the one place that decides whether a failure is retried.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { EngineError } from '../protocol/errors.ts';
import type { JobError, JobOutput, JobPayload, StatusListener } from '../protocol/job.ts';
import { autoTools, forcedCallSchema, forcedTools, renderToolMessages, toolCallId, withToolsPrompt, type ToolCall } from '../protocol/tools.ts';
import { ToolCallTextParser } from '../protocol/tool-call-text.ts';
import type { JobStore } from '../store/job-store.ts';
import type { Logger } from '../protocol/logger.ts';
import { metrics } from './metrics.ts';
import type { StoredStatus } from '../protocol/statuses.ts';
import type { Engine, GenerateResult } from './engines/port/engine.ts';
import { TokenSink } from './token-sink.ts';

export interface JobRunnerDeps {
  workerId: string;
  engine: Engine;
  store: JobStore;
  log: Logger;
  /** Called after each status change this runner makes (webhooks). */
  onStatus: StatusListener;
  /** Told of an engine running out of memory, so the scheduler can place the model elsewhere. */
  onOutOfMemory: (model: string) => void;
  /** Tells the runner how long the job waited for its model to load, if it did. */
  loadWaitMs: (model: string, createdAt: number) => number | null;
}

/** lock_lost: this worker could not renew the job's lock, so another may run it now: stop, write nothing. */
/** not_started: the job turned out not to be queued any more as its engine run began. */
type AbortReason = 'canceled' | 'timed_out' | 'shutdown' | 'lock_lost' | 'not_started';

/** A generate or chat job's output: its text, reasoning, calls, logprobs and the stop sequence that ended it; done reason `tool_calls` when it made calls. */
function generationOutput(task: 'generate' | 'chat', gen: GenerateResult, text: string, calls: ToolCall[]): JobOutput {
  const thinking = gen.thinking ? { thinking: gen.thinking } : {};
  const doneReason = calls.length > 0 ? 'tool_calls' : gen.doneReason;
  const output: JobOutput =
    task === 'chat'
      ? { message: { role: 'assistant', content: text, ...thinking, ...(calls.length ? { tool_calls: calls } : {}) }, done_reason: doneReason }
      : { response: text, ...thinking, done_reason: doneReason };
  if (gen.logprobs) output.logprobs = gen.logprobs;
  if (gen.stopSequence !== undefined && calls.length === 0) output.stop_sequence = gen.stopSequence;
  return output;
}

export class JobRunner {
  private readonly active = new Map<string, AbortController>();

  private readonly deps: JobRunnerDeps;
  constructor(deps: JobRunnerDeps) {
    this.deps = deps;
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** Aborts a running job at the engine (a cancel request). Returns whether it ran here. */
  abort(jobId: string, reason: AbortReason): boolean {
    const ac = this.active.get(jobId);
    if (!ac) return false;
    ac.abort(reason);
    return true;
  }

  abortAll(reason: AbortReason): void {
    for (const ac of this.active.values()) ac.abort(reason);
  }

  /** The BullMQ processor. */
  readonly process = async (job: Job<JobPayload>): Promise<void> => {
    const p = job.data;
    const { store, log } = this.deps;
    const now = Date.now();
    if (p.deadline > 0 && now > p.deadline) {
      const r = await store.transition(p.id, 'expired', ['queued'], { finished_at: now }, { reason: 'deadline passed before start' }, '', p.tenant);
      if (r.ok) await this.finished(p, 'expired');
      return;
    }
    const createdAt = Number(job.timestamp);
    // Registered before the job reads `running`, so a cancel that sees `running` finds it here.
    const ac = new AbortController();
    this.active.set(p.id, ac);
    const starting = store.transition(p.id, 'running', ['queued', 'running'], {
      worker: this.deps.workerId,
      started_at: now,
      attempts: job.attemptsMade + 1,
      load_wait_ms: this.deps.loadWaitMs(p.model, createdAt),
    }, { worker: this.deps.workerId, attempt: job.attemptsMade + 1 }, '', p.tenant);
    // The engine starts while the record turns `running` (a round trip less to the first token);
    // its tokens are written only once it has, and a job that is no longer queued (canceled,
    // expired) is aborted before anything of it is written.
    const sink = new TokenSink(async (type, data) => {
      if ((await starting.catch(() => null))?.ok) await store.appendEvent(p.id, type, data);
    });
    const timer = setTimeout(() => ac.abort('timed_out'), p.timeoutMs);
    const run = this.execute(p, ac.signal, sink).then(
      (result) => ({ result }),
      (err: unknown) => ({ err }),
    );
    try {
      const started = await starting.catch(async (err: unknown) => {
        ac.abort('not_started');
        await run;
        throw err;
      });
      if (!started.ok) {
        ac.abort('not_started');
        await run;
        await sink.settle();
        log.info({ jobId: p.id, status: started.current }, 'Job not started: no longer queued');
        return;
      }
      metrics.queueWait.observe({ model: p.model }, Math.max(0, now - createdAt) / 1000);
      await this.deps.onStatus(p, 'running');
      const outcome = await run;
      if ('err' in outcome) await this.fail(job, outcome.err, ac.signal, await sink.settle());
      else await this.succeed(p, outcome.result, await sink.settle());
    } finally {
      clearTimeout(timer);
      this.active.delete(p.id);
      metrics.runTime.observe({ model: p.model, task: p.task }, (Date.now() - now) / 1000);
    }
  };

  private async execute(
    p: JobPayload,
    signal: AbortSignal,
    sink: TokenSink,
  ): Promise<{ output: JobOutput; gen?: GenerateResult; promptTokens: number; completionTokens: number }> {
    const { engine } = this.deps;
    if (p.task === 'embed') {
      const input = typeof p.input.input === 'string' ? [p.input.input] : (p.input.input ?? []);
      const res = await engine.embed({ model: p.model, input, signal });
      return { output: { embeddings: res.embeddings }, promptTokens: res.promptTokens, completionTokens: 0 };
    }
    const { input } = p;
    // A forced tool call is structured output against the call schema (the API let it through
    // only for engines that enforce a schema with the fabric's compiler), streamed as call events
    // read from the generated JSON, never as text. Auto tools go to the engine with the history
    // as sent (it renders tool turns in the model's own format); otherwise tool turns are text.
    const callTools = p.task === 'chat' ? forcedTools(input) : null;
    const modelTools = p.task === 'chat' && !callTools ? autoTools(input) : null;
    const callParser = callTools ? new ToolCallTextParser({ index: 0, id: toolCallId() }) : null;
    const messages = input.messages && !modelTools ? renderToolMessages(input.messages) : input.messages;
    const gen = await engine.generate({
      model: p.model,
      task: p.task,
      prompt: input.prompt,
      system: input.system,
      ...(input.template !== undefined ? { template: input.template } : {}),
      messages: messages && callTools ? withToolsPrompt(messages, callTools) : messages,
      options: input.options ?? {},
      format: callTools ? forcedCallSchema(callTools) : input.format,
      ...(modelTools ? { tools: modelTools, parallelToolCalls: input.parallel_tool_calls ?? true } : {}),
      ...(input.think !== undefined ? { think: input.think } : {}),
      ...(input.logprobs || (input.top_logprobs ?? 0) > 0 ? { logprobs: { top: input.top_logprobs ?? 0 } } : {}),
      ...(input.images?.length ? { images: input.images } : {}),
      signal,
      onToken: callParser ? (t) => callParser.push(t).forEach((ev) => sink.pushDelta(ev)) : (t) => sink.push(t),
      onDelta: (ev) => sink.pushDelta(ev),
    });
    let calls = gen.toolCalls ?? [];
    if (callParser) {
      const call = callParser.call();
      if (!call) throw new EngineError('invalid_request', `the tool call was cut short at ${gen.completionTokens} tokens (done reason ${gen.doneReason}); raise max_tokens`);
      calls = [call];
    }
    const output = generationOutput(p.task, gen, callParser ? '' : gen.text, calls);
    return { output, gen, promptTokens: gen.promptTokens, completionTokens: gen.completionTokens };
  }

  private async succeed(
    p: JobPayload,
    r: { output: JobOutput; gen?: GenerateResult; promptTokens: number; completionTokens: number },
    pendingText: string,
  ): Promise<void> {
    const fields = {
      output: r.output,
      usage: { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens },
      finished_at: Date.now(),
      prompt_eval_ms: r.gen?.promptEvalMs,
      eval_ms: r.gen?.evalMs,
      error: null,
    };
    const res = await this.deps.store.transition(p.id, 'succeeded', ['running'], fields, {}, pendingText, p.tenant);
    if (res.ok) await this.finished(p, 'succeeded');
  }

  private async fail(job: Job<JobPayload>, err: unknown, signal: AbortSignal, pendingText: string): Promise<never | void> {
    const p = job.data;
    const { store, log } = this.deps;
    const reason = signal.aborted ? (signal.reason as AbortReason) : undefined;
    if (reason === 'lock_lost') {
      log.warn({ jobId: p.id }, 'Job stopped: its lock was lost; the record is left to the worker that takes it');
      throw new Error('job lock lost');
    }
    if (reason === 'canceled' || reason === 'timed_out') {
      const error: JobError | null =
        reason === 'timed_out'
          ? { code: 'timed_out', message: `job ran longer than its timeout of ${p.timeoutMs} ms`, retryable: true }
          : null;
      const res = await store.transition(p.id, reason, ['running'], { finished_at: Date.now(), error }, {}, pendingText, p.tenant);
      if (res.ok) await this.finished(p, reason);
      return;
    }
    const engineErr = err instanceof EngineError ? err : undefined;
    if (engineErr?.code === 'out_of_memory') this.deps.onOutOfMemory(p.model);
    const retryable = reason === 'shutdown' || (engineErr?.retryable ?? false);
    const attempts = job.opts.attempts ?? 1;
    const error: JobError = {
      code: reason === 'shutdown' ? 'worker_shutdown' : (engineErr?.code ?? 'internal_error'),
      message: err instanceof Error ? err.message : String(err),
      retryable,
    };
    if (retryable && job.attemptsMade + 1 < attempts) {
      log.warn({ jobId: p.id, error, attempt: job.attemptsMade + 1 }, 'Job failed, will retry');
      await store.transition(p.id, 'queued', ['running'], { error }, { retry: true, error }, pendingText, p.tenant);
      throw err instanceof Error ? err : new Error(String(err));
    }
    const res = await store.transition(p.id, 'failed', ['running'], { finished_at: Date.now(), error }, {}, pendingText, p.tenant);
    if (res.ok) await this.finished(p, 'failed');
    log.warn({ jobId: p.id, error }, 'Job failed');
    throw new UnrecoverableError(error.message);
  }

  private async finished(p: JobPayload, status: StoredStatus): Promise<void> {
    metrics.jobsFinished.inc({ model: p.model, status });
    await this.deps.onStatus(p, status);
  }
}
