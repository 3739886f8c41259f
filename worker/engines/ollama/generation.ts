/**
 * One generation on Ollama's `/api/chat` or `/api/generate` (docs/api.md of ollama/ollama): the
 * request body with tools, `think`, `logprobs` / `top_logprobs`, images and `format` passed
 * through as Ollama takes them, and the streamed chunks read back into canonical events.
 *
 * Ollama sends each tool call whole, in one chunk's `message.tool_calls` (a function name and an
 * arguments object, an `id` only on newer versions): each becomes `tool_call_start`, one
 * `tool_call_delta` with the arguments JSON, and `tool_call_end`, with an id made when Ollama
 * gave none; with parallel calls off only the first call is kept. Reasoning
 * (`message.thinking` / `thinking`) goes out as `reasoning` deltas.
 */
import { randomBytes } from 'node:crypto';
import type { ChatMessage, TokenLogprob } from '../../../protocol/job.ts';
import type { ToolCall } from '../../../protocol/tools.ts';
import type { GenerateRequest } from '../port/engine.ts';
import type { OllamaChunk, OllamaLogprob, OllamaMessage } from './wire.ts';

/** An assistant turn's calls and a tool result as Ollama's chat history takes them. */
export function ollamaMessages(messages: readonly ChatMessage[]): OllamaMessage[] {
  const names = new Map<string, string>();
  return messages.map((m) => {
    const out: OllamaMessage = { role: m.role, content: m.content };
    if (m.images?.length) out.images = m.images;
    if (m.tool_calls?.length) {
      out.tool_calls = m.tool_calls.map((c, index) => {
        names.set(c.id, c.function.name);
        return { id: c.id, function: { index, name: c.function.name, arguments: parseArguments(c.function.arguments) } };
      });
    }
    if (m.tool_call_id !== undefined) {
      out.tool_call_id = m.tool_call_id;
      const name = names.get(m.tool_call_id);
      if (name) out.tool_name = name;
    }
    return out;
  });
}

function parseArguments(json: string): Record<string, unknown> {
  try {
    const v = JSON.parse(json) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The request body for `req` (streamed, the model pinned with `keep_alive`). */
export function generationBody(req: GenerateRequest, keepAlive: number): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  if (req.format !== undefined) extra.format = req.format;
  if (req.think !== undefined) extra.think = req.think;
  if (req.logprobs) {
    extra.logprobs = true;
    if (req.logprobs.top > 0) extra.top_logprobs = req.logprobs.top;
  }
  const base = { model: req.model, options: req.options, stream: true, keep_alive: keepAlive, ...extra };
  if (req.task === 'chat') {
    const tools = req.tools?.length
      ? { tools: req.tools.map((t) => ({ type: 'function', function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parameters: t.parameters ?? { type: 'object', properties: {} } } })) }
      : {};
    return { ...base, messages: ollamaMessages(req.messages ?? []), ...tools };
  }
  return { ...base, prompt: req.prompt ?? '', ...(req.system !== undefined ? { system: req.system } : {}), ...(req.template !== undefined ? { template: req.template } : {}), ...(req.images?.length ? { images: req.images } : {}) };
}

const callId = () => `call_${randomBytes(12).toString('base64url')}`;

/** What the chunks of one generation add up to, with each piece passed on as it comes. */
export class ChunkReader {
  text = '';
  thinking = '';
  pieces = 0;
  readonly toolCalls: ToolCall[] = [];
  readonly logprobs: TokenLogprob[] = [];
  private readonly req: GenerateRequest;

  constructor(req: GenerateRequest) {
    this.req = req;
  }

  read(chunk: OllamaChunk): void {
    const chat = this.req.task === 'chat';
    const thought = chat ? chunk.message?.thinking : chunk.thinking;
    if (thought) {
      this.thinking += thought;
      this.req.onDelta?.({ type: 'reasoning', text: thought });
    }
    const piece = chat ? chunk.message?.content : chunk.response;
    if (piece) {
      this.text += piece;
      this.pieces++;
      this.req.onToken(piece);
    }
    for (const call of (chat ? chunk.message?.tool_calls : undefined) ?? []) this.call(call);
    for (const lp of chunk.logprobs ?? []) this.logprobs.push(tokenLogprob(lp));
  }

  private call(call: NonNullable<OllamaMessage['tool_calls']>[number]): void {
    // Ollama has no switch for one call at a time: with parallel calls off, the first call is the answer.
    if (this.req.parallelToolCalls === false && this.toolCalls.length > 0) return;
    const index = this.toolCalls.length;
    const c: ToolCall = { id: call.id || callId(), type: 'function', function: { name: call.function.name, arguments: JSON.stringify(call.function.arguments ?? {}) } };
    this.toolCalls.push(c);
    this.req.onDelta?.({ type: 'tool_call_start', index, id: c.id, name: c.function.name });
    this.req.onDelta?.({ type: 'tool_call_delta', index, arguments: c.function.arguments });
    this.req.onDelta?.({ type: 'tool_call_end', index });
  }
}

function tokenLogprob(lp: OllamaLogprob): TokenLogprob {
  const out: TokenLogprob = { token: lp.token, logprob: lp.logprob };
  if (lp.top_logprobs?.length) out.top_logprobs = lp.top_logprobs.map((t) => ({ token: t.token, logprob: t.logprob }));
  return out;
}
