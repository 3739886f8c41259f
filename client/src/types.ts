/** The fabric's HTTP shapes as the client sees them (mirrors the API's JSON, snake_case kept). */
import type { JobErrorCode } from './error-codes.ts';
import { TERMINAL_STATUSES, type JobStatus, type WebhookEventType } from './statuses.ts';

export { TERMINAL_STATUSES, type JobStatus, type WebhookEventType };
export const isTerminalStatus = (s: JobStatus): boolean => TERMINAL_STATUSES.includes(s);

export type Task = 'generate' | 'chat' | 'embed';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  images?: string[];
  /** An assistant turn's tool calls. */
  tool_calls?: ToolCall[];
  /** On a `tool` message: the call whose result it carries. */
  tool_call_id?: string;
}

/** A function tool a chat job may be made to call (`parameters`: a JSON schema). */
export interface Tool {
  name: string;
  description?: string;
  parameters?: Record<string, unknown>;
}

/** A call the model made; `arguments` is JSON text that validates against the tool's `parameters`. */
export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** Ollama-style generation options; unknown ones pass through. */
export interface GenerationOptions {
  num_predict?: number;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  min_p?: number;
  seed?: number;
  stop?: string | string[];
  num_ctx?: number;
  repeat_penalty?: number;
  [name: string]: unknown;
}

export interface JobInput {
  prompt?: string;
  system?: string;
  suffix?: string;
  template?: string;
  raw?: boolean;
  messages?: ChatMessage[];
  input?: string | string[];
  options?: GenerationOptions;
  format?: 'json' | Record<string, unknown>;
  images?: string[];
  truncate?: boolean;
  tools?: Tool[];
  /** `"required"` or `{name}` force a call (llama.cpp engine); `"none"` ignores the tools; `"auto"` is not served yet. */
  tool_choice?: 'none' | 'auto' | 'required' | { name: string };
  parallel_tool_calls?: boolean;
  /** Reasoning on or off, or an effort level (engines without reasoning refuse it with a 400). */
  think?: boolean | 'low' | 'medium' | 'high';
  logprobs?: boolean;
  top_logprobs?: number;
}

/** Body of `POST /v1/jobs` and `POST /v1/run`. */
export interface JobRequest {
  model: string;
  task?: Task;
  input: JobInput;
  priority?: 'high' | 'normal' | 'low';
  webhook?: { url: string; events?: WebhookEventType[] };
  metadata?: Record<string, unknown>;
  /** Seconds the job may wait in its queue before it expires unstarted. */
  ttl?: number;
  /** Seconds the job may run once started. */
  timeout?: number;
}

export interface JobError {
  code: JobErrorCode;
  message: string;
  retryable: boolean;
}

/** One generated token's log probability, with the likeliest alternatives when asked. */
export interface TokenLogprob {
  token: string;
  logprob: number;
  top_logprobs?: { token: string; logprob: number }[];
}

export interface JobOutput {
  response?: string;
  message?: { role: 'assistant'; content: string; thinking?: string; tool_calls?: ToolCall[] };
  /** A generate job's reasoning text. */
  thinking?: string;
  logprobs?: TokenLogprob[];
  embeddings?: number[][];
  done_reason?: string;
  /** The stop sequence that ended the answer, when one did. */
  stop_sequence?: string;
}

export interface Job {
  id: string;
  object: 'job';
  model: string;
  task: Task;
  status: JobStatus;
  priority: 'high' | 'normal' | 'low';
  input: JobInput;
  output: JobOutput | null;
  error: JobError | null;
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  timings: { queue_ms: number | null; load_wait_ms: number | null; run_ms: number | null; total_ms: number | null };
  worker: string | null;
  attempts: number;
  metadata: Record<string, unknown>;
  webhook: { url: string; events?: WebhookEventType[] } | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** Where a queued job stands. */
  queue?: { position: number | null; depth: number };
  urls?: { get: string; events: string; cancel: string };
  webhook_deliveries?: unknown[];
}

/** One event of `GET /v1/jobs/:id/events`. `id` is the resume point (absent on `result`). */
export type JobEvent =
  | { type: 'status'; id: string; status: JobStatus; data: Record<string, unknown> }
  | { type: 'token'; id: string; text: string }
  | { type: 'progress'; id: string; data: Record<string, unknown> }
  /** A non-text piece of the answer: reasoning text, or a tool call's start, arguments piece or end. */
  | { type: 'delta'; id: string; delta: AnswerDelta }
  | { type: 'result'; job: Job };

/** What a `delta` event carries (the job's text itself comes as `token` events). */
export type AnswerDelta =
  | { type: 'reasoning'; text: string }
  | { type: 'tool_call_start'; index: number; id: string; name: string }
  | { type: 'tool_call_delta'; index: number; arguments: string }
  | { type: 'tool_call_end'; index: number };

export interface Model {
  id: string;
  object: 'model';
  engine: string;
  size_bytes: number;
  resident_on: { worker: string }[];
  loading_on: { worker: string; since: string }[];
  queue: Record<string, number>;
  [field: string]: unknown;
}
