/**
 * Ollama's request fields for tools, reasoning and logprobs (docs/api.md of ollama/ollama) as
 * job input, and the job's answer back in Ollama's shape (pure). Tools are Ollama's
 * `{type: "function", function: {name, description, parameters}}`; Ollama has no tool choice,
 * so tools mean the model chooses (auto). A history's assistant `tool_calls` carry arguments as
 * objects and maybe no id (one is made, and a later `tool` message naming the function by
 * `tool_name` is matched to it); `think` takes a boolean or low / medium / high.
 */
import { z } from 'zod';
import type { ChatMessage, JobInput, JobOutput } from '../../protocol/job.ts';
import { toolSchema, type Tool, type ToolCall } from '../../protocol/tools.ts';
import { badRequest } from '../http/http-error.ts';
import { describeZodError } from '../http/request-parsing.ts';

export const toolsField = z
  .array(z.object({ type: z.literal('function'), function: z.object({ name: z.string(), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional() }).passthrough() }).passthrough())
  .max(128);
export const thinkField = z.union([z.boolean(), z.enum(['low', 'medium', 'high', 'max'])]);
export const logprobFields = { logprobs: z.boolean().optional(), top_logprobs: z.number().int().min(0).max(20).optional() };

const historyCall = z.object({ id: z.string().min(1).max(200).optional(), function: z.object({ name: z.string().min(1), arguments: z.record(z.string(), z.unknown()).optional() }).passthrough() }).passthrough();
export const chatMessageField = z
  .object({
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.string(),
    images: z.array(z.string()).optional(),
    thinking: z.string().optional(),
    tool_calls: z.array(historyCall).max(128).optional(),
    tool_name: z.string().optional(),
    tool_call_id: z.string().max(200).optional(),
  })
  .passthrough();
type OllamaMessage = z.infer<typeof chatMessageField>;

export function jobTools(tools: z.infer<typeof toolsField>): Tool[] {
  return tools.map((t, i) => {
    const tool = { name: t.function.name, ...(t.function.description !== undefined ? { description: t.function.description } : {}), ...(t.function.parameters ? { parameters: t.function.parameters } : {}) };
    const r = toolSchema.safeParse(tool);
    if (!r.success) throw badRequest('invalid_request', `tools.${i}.function.${describeZodError(r.error)}`);
    return r.data;
  });
}

/** `think` as the job takes it; Ollama's "max" is refused (the fabric's engines know low, medium and high). */
export function jobThink(v: z.infer<typeof thinkField> | undefined): Pick<JobInput, 'think'> {
  if (v === undefined) return {};
  if (v === 'max') throw badRequest('invalid_request', 'think: "max" is not supported; send true, false, "low", "medium" or "high"');
  return { think: v };
}

export function jobLogprobs(b: { logprobs?: boolean; top_logprobs?: number }): Pick<JobInput, 'logprobs' | 'top_logprobs'> {
  if (!b.logprobs) return {};
  return { logprobs: true, ...(b.top_logprobs ? { top_logprobs: b.top_logprobs } : {}) };
}

/** A chat history as job messages: calls get ids where they have none, tool results find their call. */
export function jobMessages(messages: readonly OllamaMessage[]): ChatMessage[] {
  const open: ToolCall[] = [];
  let made = 0;
  return messages.map((m) => {
    const out: ChatMessage = { role: m.role, content: m.content, ...(m.images?.length ? { images: m.images } : {}) };
    if (m.role === 'assistant' && m.tool_calls?.length) {
      out.tool_calls = m.tool_calls.map((c) => ({ id: c.id ?? `call_${++made}`, type: 'function' as const, function: { name: c.function.name, arguments: JSON.stringify(c.function.arguments ?? {}) } }));
      open.push(...out.tool_calls);
    }
    if (m.role === 'tool') {
      const byId = m.tool_call_id !== undefined ? open.findIndex((c) => c.id === m.tool_call_id) : -1;
      const at = byId >= 0 ? byId : open.findIndex((c) => m.tool_name === undefined || c.function.name === m.tool_name);
      const call = at >= 0 ? open.splice(at, 1)[0] : undefined;
      const id = m.tool_call_id ?? call?.id;
      if (id !== undefined) out.tool_call_id = id;
    }
    return out;
  });
}

/** A call as Ollama answers it: the arguments an object, the function's index among the calls. */
export function ollamaCall(call: ToolCall, index: number) {
  let args: unknown = {};
  try {
    args = JSON.parse(call.function.arguments);
  } catch {
    // arguments that are not JSON stay an empty object
  }
  return { id: call.id, function: { index, name: call.function.name, arguments: args } };
}

/** A finished chat's `message` in Ollama's shape. */
export function ollamaMessage(out: JobOutput | null) {
  const m = out?.message;
  return {
    role: 'assistant' as const,
    content: m?.content ?? '',
    ...(m?.thinking ? { thinking: m.thinking } : {}),
    ...(m?.tool_calls?.length ? { tool_calls: m.tool_calls.map(ollamaCall) } : {}),
  };
}
