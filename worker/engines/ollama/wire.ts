/** The JSON shapes of Ollama's HTTP API (docs/api.md in ollama/ollama), as far as the engine reads them. */

export interface OllamaModelDetails {
  format?: string;
  family?: string;
  families?: string[] | null;
  parameter_size?: string;
  quantization_level?: string;
}

/** An entry of `GET /api/tags`. */
export interface OllamaTag {
  name: string;
  model?: string;
  size: number;
  digest?: string;
  modified_at?: string;
  details?: OllamaModelDetails;
}

/** An entry of `GET /api/ps`: `size` is the whole footprint, `size_vram` the part on GPUs. */
export interface OllamaProcess {
  name: string;
  model?: string;
  size: number;
  size_vram: number;
  digest?: string;
  expires_at?: string;
  /** The context the runner was started with (newer Ollama versions report it). */
  context_length?: number;
  details?: OllamaModelDetails;
}

/** A tool call as Ollama writes it: the arguments as an object; `id` and `index` on newer versions. */
export interface OllamaToolCall {
  id?: string;
  function: { index?: number; name: string; arguments?: Record<string, unknown> };
}

/** A chat message, in a request's history or a chunk's answer. */
export interface OllamaMessage {
  role: string;
  content: string;
  thinking?: string;
  images?: string[];
  tool_calls?: OllamaToolCall[];
  /** On a `tool` message: the function whose result it carries. */
  tool_name?: string;
  tool_call_id?: string;
}

/** One generated token's log probability, with the likeliest alternatives when asked. */
export interface OllamaLogprob {
  token: string;
  logprob: number;
  bytes?: number[];
  top_logprobs?: { token: string; logprob: number; bytes?: number[] }[];
}

/** One line of `/api/generate` or `/api/chat`; durations are nanoseconds. */
export interface OllamaChunk {
  model?: string;
  created_at?: string;
  response?: string;
  /** `/api/generate`'s reasoning text (`/api/chat` has it in `message.thinking`). */
  thinking?: string;
  message?: Partial<OllamaMessage>;
  /** The log probabilities of this chunk's tokens. */
  logprobs?: OllamaLogprob[];
  done?: boolean;
  done_reason?: string;
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
  prompt_eval_duration?: number;
  eval_count?: number;
  eval_duration?: number;
  error?: string;
}

/** One line of `POST /api/pull`. */
export interface OllamaPullStatus {
  status?: string;
  digest?: string;
  total?: number;
  completed?: number;
  error?: string;
}

export interface OllamaEmbedResponse {
  model?: string;
  embeddings: number[][];
  prompt_eval_count?: number;
}

export interface OllamaShowResponse {
  details?: OllamaModelDetails;
  model_info?: Record<string, unknown>;
}
