/** The job: what a client submits (validated here) and what the fabric stores and returns. */
import { z } from 'zod';
import type { JobStatus, StoredStatus } from './statuses.ts';
import { WEBHOOK_EVENTS } from './statuses.ts';
import type { JobErrorCode } from './error-codes.ts';
import { toolCallSchema, toolChoiceSchema, toolSchema, type ToolCall } from './tools.ts';

export type Task = 'generate' | 'chat' | 'embed';
export type Priority = 'high' | 'normal' | 'low';

/** BullMQ priority per fabric priority (lower runs first). */
export const BULL_PRIORITY: Record<Priority, number> = { high: 1, normal: 5, low: 10 };

const stop = z.union([z.string(), z.array(z.string()).max(16)]);

/** Ollama's generation options; known ones are typed, others pass through as Ollama ignores them. */
export const optionsSchema = z
  .object({
    num_predict: z.number().int().min(-2).max(1_000_000).optional(),
    temperature: z.number().min(0).max(100).optional(),
    top_k: z.number().int().min(0).optional(),
    top_p: z.number().min(0).max(1).optional(),
    min_p: z.number().min(0).max(1).optional(),
    seed: z.number().int().optional(),
    stop: stop.optional(),
    num_ctx: z.number().int().min(1).optional(),
    repeat_penalty: z.number().optional(),
  })
  .catchall(z.union([z.number(), z.string(), z.boolean(), z.array(z.union([z.number(), z.string()]))]));
export type GenerationOptions = z.infer<typeof optionsSchema>;

export const chatMessageSchema = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.string(),
    images: z.array(z.string()).optional(),
    /** An assistant turn's tool calls (see protocol/tools.ts). */
    tool_calls: z.array(toolCallSchema).max(128).optional(),
    /** On a `tool` message: the call whose result it carries. */
    tool_call_id: z.string().max(200).optional(),
  })
  .strict();
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export const inputSchema = z
  .object({
    prompt: z.string().optional(),
    system: z.string().optional(),
    suffix: z.string().optional(),
    template: z.string().optional(),
    raw: z.boolean().optional(),
    messages: z.array(chatMessageSchema).max(10_000).optional(),
    input: z.union([z.string(), z.array(z.string()).min(1).max(2048)]).optional(),
    options: optionsSchema.optional(),
    format: z.union([z.literal('json'), z.record(z.string(), z.unknown())]).optional(),
    images: z.array(z.string()).optional(),
    truncate: z.boolean().optional(),
    /** Function tools a chat may call; with `tool_choice` "required" or a named one the answer is a call. */
    tools: z.array(toolSchema).max(128).optional(),
    tool_choice: toolChoiceSchema.optional(),
    /** Whether the model may answer with several calls at once (default true where the engine can). */
    parallel_tool_calls: z.boolean().optional(),
    /** Reasoning switch, as Ollama takes it: on/off, or an effort level. */
    think: z.union([z.boolean(), z.enum(['low', 'medium', 'high'])]).optional(),
    /** Per-token log probabilities of the generated text, with the `top_logprobs` most likely alternatives. */
    logprobs: z.boolean().optional(),
    top_logprobs: z.number().int().min(0).max(20).optional(),
  })
  .strict();
export type JobInput = z.infer<typeof inputSchema>;

export const webhookSpecSchema = z
  .object({
    url: z.string().url().max(2048),
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).optional(),
  })
  .strict();
export type WebhookSpec = z.infer<typeof webhookSpecSchema>;

export const submitSchema = z
  .object({
    model: z.string().min(1).max(200),
    task: z.enum(['generate', 'chat', 'embed']).optional(),
    input: inputSchema,
    priority: z.enum(['high', 'normal', 'low']).default('normal'),
    webhook: webhookSpecSchema.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    /** Seconds the job may wait in its queue before it expires unstarted. */
    ttl: z.number().int().min(1).max(7 * 24 * 3600).optional(),
    /** Seconds the job may run once started. */
    timeout: z.number().int().min(1).max(24 * 3600).optional(),
  })
  .strict();
export type SubmitBody = z.infer<typeof submitSchema>;

/** The task a body asks for: explicit, or inferred from which input field is present. */
export function resolveTask(body: SubmitBody): { task: Task } | { error: string } {
  const { input } = body;
  const inferred: Task | undefined = input.messages
    ? 'chat'
    : input.input !== undefined
      ? 'embed'
      : input.prompt !== undefined
        ? 'generate'
        : undefined;
  const task = body.task ?? inferred;
  if (!task) return { error: 'input needs prompt (generate), messages (chat) or input (embed)' };
  if (task === 'chat' && !input.messages) return { error: 'task chat needs input.messages' };
  if (task === 'generate' && input.prompt === undefined) return { error: 'task generate needs input.prompt' };
  if (task === 'embed' && input.input === undefined) return { error: 'task embed needs input.input' };
  return { task };
}

export interface JobError {
  code: JobErrorCode;
  message: string;
  retryable: boolean;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** One generated token's log probability (Ollama's shape), with the likeliest alternatives when asked. */
export interface TokenLogprob {
  token: string;
  logprob: number;
  top_logprobs?: { token: string; logprob: number }[];
}

export interface JobOutput {
  response?: string;
  message?: { role: 'assistant'; content: string; thinking?: string; tool_calls?: ToolCall[] };
  /** A generate job's reasoning text (a chat job's is `message.thinking`). */
  thinking?: string;
  logprobs?: TokenLogprob[];
  embeddings?: number[][];
  done_reason?: string;
  /** The stop sequence that ended the answer, where the engine says which one did. */
  stop_sequence?: string;
}

/** What travels in the BullMQ job: all a worker needs to run it. */
export interface JobPayload {
  id: string;
  /** The owner; absent on jobs queued by older versions. */
  tenant?: string;
  model: string;
  task: Task;
  input: JobInput;
  timeoutMs: number;
  /** Epoch ms after which the job expires unstarted (0: never). */
  deadline: number;
  /** 0 for the first run; each `retry` of the job by a client adds one. */
  run: number;
  webhook: WebhookSpec | null;
  /**
   * The tenant's cap on jobs running at once, as the API had it when the job was queued; absent
   * when the tenant has none (the worker then takes no running slot: no extra Redis call).
   */
  runningCap?: RunningCap;
}

/** Who a capped job counts against and how many of that tenant's jobs may run at once. */
export interface RunningCap {
  tenant: string;
  max: number;
}

/** The stored job record (one Redis hash) as read back. */
export interface JobRecord {
  id: string;
  tenant: string;
  model: string;
  task: Task;
  status: StoredStatus;
  priority: Priority;
  input: JobInput;
  output: JobOutput | null;
  error: JobError | null;
  usage: Usage | null;
  webhook: WebhookSpec | null;
  metadata: Record<string, unknown>;
  worker: string | null;
  attempts: number;
  timeoutMs: number;
  deadline: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  loadWaitMs: number | null;
  promptEvalMs: number | null;
  evalMs: number | null;
  cancelRequested: boolean;
  run: number;
}

export interface JobTimings {
  queue_ms: number | null;
  load_wait_ms: number | null;
  run_ms: number | null;
  total_ms: number | null;
}

export function jobTimings(r: JobRecord, now = Date.now()): JobTimings {
  const queueEnd = r.startedAt ?? (r.finishedAt ?? now);
  return {
    queue_ms: Math.max(0, queueEnd - r.createdAt),
    load_wait_ms: r.loadWaitMs,
    run_ms: r.startedAt !== null ? Math.max(0, (r.finishedAt ?? now) - r.startedAt) : null,
    total_ms: r.finishedAt !== null ? Math.max(0, r.finishedAt - r.createdAt) : null,
  };
}

/** Public JSON for a job. */
export function jobView(r: JobRecord, status: JobStatus, extra: Record<string, unknown> = {}) {
  return {
    id: r.id,
    object: 'job',
    model: r.model,
    task: r.task,
    status,
    priority: r.priority,
    input: r.input,
    output: r.output,
    error: r.error,
    usage: r.usage,
    timings: jobTimings(r),
    worker: r.worker,
    attempts: r.attempts,
    metadata: r.metadata,
    webhook: r.webhook,
    created_at: new Date(r.createdAt).toISOString(),
    started_at: r.startedAt ? new Date(r.startedAt).toISOString() : null,
    finished_at: r.finishedAt ? new Date(r.finishedAt).toISOString() : null,
    ...extra,
  };
}

/** Told of each status change a component makes (webhooks hang off it); must not throw. */
export type StatusListener = (job: Pick<JobPayload, 'id' | 'webhook' | 'run'>, status: StoredStatus) => Promise<void>;
