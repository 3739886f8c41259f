/** `FabricClient`: the entry point. Retries per call; one circuit breaker per base URL (shared by clients with the same settings). */
import { jobFailure } from './job-failure.ts';
import { Jobs, newIdempotencyKey, type CreateOptions } from './jobs.ts';
import { resolveOptions, type FabricClientOptions, type ResolvedOptions } from './options.ts';
import { TokenStream } from './token-stream.ts';
import { Transport } from './transport.ts';
import { isTerminalStatus, type ChatMessage, type GenerationOptions, type Job, type JobInput, type JobRequest, type Model } from './types.ts';

/** What the convenience calls share: where the job goes and how it is submitted. */
export interface CallOptions {
  model: string;
  options?: GenerationOptions;
  format?: JobInput['format'];
  priority?: JobRequest['priority'];
  metadata?: Record<string, unknown>;
  idempotencyKey?: string;
  signal?: AbortSignal;
  /** With `stream: true`, cancel the job when `signal` aborts. */
  cancelOnAbort?: boolean;
}

export interface GenerateParams extends CallOptions {
  prompt: string;
  system?: string;
}
export interface ChatParams extends CallOptions {
  messages: ChatMessage[];
}
export interface EmbedParams extends Omit<CallOptions, 'cancelOnAbort' | 'format'> {
  input: string | string[];
}

export interface RunOptions extends Omit<CreateOptions, 'wait'> {
  /** Seconds the API holds the request before answering 202 (then the client long-polls); default `pollWaitSec`. */
  wait?: number;
}

export class FabricClient {
  readonly options: ResolvedOptions;
  readonly jobs: Jobs;
  readonly models: { list(opts?: { signal?: AbortSignal }): Promise<Model[]> };
  private readonly transport: Transport;

  constructor(options: FabricClientOptions) {
    this.options = resolveOptions(options);
    this.transport = new Transport(this.options);
    this.jobs = new Jobs(this.transport, this.options);
    this.models = {
      list: async (opts = {}) => (await this.transport.json<{ data: Model[] }>({ method: 'GET', path: '/v1/models', signal: opts.signal })).body.data,
    };
  }

  /** The circuit breaker's state for this client's base URL (`closed` when it has none). */
  get circuitState(): 'closed' | 'open' | 'half-open' {
    return this.transport.breaker?.state ?? 'closed';
  }

  /**
   * The synchronous wrapper: submits through `POST /v1/run` and, if the API answers before
   * the job ends, long-polls it. Returns the succeeded job; throws a FabricError otherwise.
   */
  async run(body: JobRequest, opts: RunOptions = {}): Promise<Job> {
    const headers: Record<string, string> = { 'idempotency-key': opts.idempotencyKey ?? newIdempotencyKey() };
    // Bounded hold (not the API's 90 s default), so one attempt never hangs long; then long-polls.
    const wait = Math.max(0, Math.floor(opts.wait ?? this.options.pollWaitSec));
    headers.prefer = `wait=${wait}`;
    const holdMs = wait * 1000;
    let job = (await this.transport.json<Job>({ method: 'POST', path: '/v1/run', body, headers, signal: opts.signal, timeoutMs: this.options.timeoutMs + holdMs })).body;
    if (!isTerminalStatus(job.status)) job = await this.jobs.wait(job.id, { signal: opts.signal });
    const failure = jobFailure(job);
    if (failure) throw failure;
    return job;
  }

  /** Completes a prompt: `{text, job}`, or with `stream: true` a TokenStream. */
  generate(p: GenerateParams & { stream: true }): TokenStream;
  generate(p: GenerateParams & { stream?: false }): Promise<{ text: string; job: Job }>;
  generate(p: GenerateParams & { stream?: boolean }): TokenStream | Promise<{ text: string; job: Job }> {
    const body = request(p, 'generate', { prompt: p.prompt, system: p.system, format: p.format });
    if (p.stream) return this.jobs.stream(body, p);
    return this.run(body, p).then((job) => ({ text: job.output?.response ?? '', job }));
  }

  /** Answers a conversation: `{message, job}`, or with `stream: true` a TokenStream. */
  chat(p: ChatParams & { stream: true }): TokenStream;
  chat(p: ChatParams & { stream?: false }): Promise<{ message: { role: 'assistant'; content: string }; job: Job }>;
  chat(p: ChatParams & { stream?: boolean }): TokenStream | Promise<{ message: { role: 'assistant'; content: string }; job: Job }> {
    const body = request(p, 'chat', { messages: p.messages, format: p.format });
    if (p.stream) return this.jobs.stream(body, p);
    return this.run(body, p).then((job) => ({ message: job.output?.message ?? { role: 'assistant' as const, content: '' }, job }));
  }

  /** Embeds one text or several: `{embeddings, job}`. */
  async embed(p: EmbedParams): Promise<{ embeddings: number[][]; job: Job }> {
    const job = await this.run(request(p, 'embed', { input: p.input }), p);
    return { embeddings: job.output?.embeddings ?? [], job };
  }
}

function request(p: CallOptions | EmbedParams, task: JobRequest['task'], input: JobInput): JobRequest {
  const clean = Object.fromEntries(Object.entries({ ...input, options: p.options }).filter(([, v]) => v !== undefined)) as JobInput;
  const body: JobRequest = { model: p.model, task, input: clean };
  if (p.priority) body.priority = p.priority;
  if (p.metadata) body.metadata = p.metadata;
  return body;
}
