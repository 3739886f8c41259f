/**
 * Tools (function calling), wire-neutral. A forced call (`tool_choice` "required" or a named
 * function) is structured output: the model generates `{"name": ..., "arguments": {...}}`
 * against a schema built from the tools, compiled by the fabric's JSON Schema compiler into a
 * grammar, so the arguments always validate against the tool's `parameters`. Engines that do
 * not enforce a schema with that compiler are refused at submit time (see `toolsRefusal`).
 *
 * Chat history may hold an assistant turn's `tool_calls` and `role: 'tool'` results; engines
 * without a tool template see them as text (`renderToolMessages`).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { compileJsonSchema, describeRefusal } from './json-schema/index.ts';
import { engineFeatures } from './engine-features.ts';

export const toolSchema = z
  .object({
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'tool names use letters, digits, _ . and -'),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();
export type Tool = z.infer<typeof toolSchema>;

/** `none`: answer in text; `auto`: the model chooses text or calls; `required`: call one of the tools; `{name}`: call that tool. */
export const toolChoiceSchema = z.union([z.enum(['none', 'auto', 'required']), z.object({ name: z.string().min(1) }).strict()]);
export type ToolChoice = z.infer<typeof toolChoiceSchema>;

export const toolCallSchema = z
  .object({
    id: z.string().min(1).max(200),
    type: z.literal('function'),
    function: z.object({ name: z.string().min(1), arguments: z.string() }).strict(),
  })
  .strict();
export type ToolCall = z.infer<typeof toolCallSchema>;


interface ToolsInput {
  tools?: Tool[];
  tool_choice?: ToolChoice;
  format?: unknown;
  logprobs?: boolean;
  top_logprobs?: number;
}

/** The tools a forced call may pick from, or null when the job asks for no call. */
export function forcedTools(input: ToolsInput): Tool[] | null {
  const tools = input.tools ?? [];
  const choice = input.tool_choice;
  if (tools.length === 0 || choice === undefined || choice === 'none' || choice === 'auto') return null;
  if (choice === 'required') return tools;
  return tools.filter((t) => t.name === choice.name);
}

/** The tools a chat lets the model call on its own (`tool_choice` "auto", the default with tools), or null. */
export function autoTools(input: ToolsInput): Tool[] | null {
  const tools = input.tools ?? [];
  if (tools.length === 0 || (input.tool_choice !== undefined && input.tool_choice !== 'auto')) return null;
  return tools;
}

/** The schema a forced call is generated against: one object per tool, its name a constant. */
export function forcedCallSchema(tools: readonly Tool[]): Record<string, unknown> {
  const one = (t: Tool) => ({
    type: 'object',
    properties: { name: { const: t.name }, arguments: t.parameters ?? { type: 'object', properties: {}, additionalProperties: false } },
    required: ['name', 'arguments'],
    additionalProperties: false,
  });
  return tools.length === 1 ? one(tools[0]!) : { anyOf: tools.map(one) };
}

/** Why tools were refused: the parameter at fault, and whether it is a feature not served yet (else invalid input). */
export interface ToolsRefusal {
  param: 'tools' | 'tool_choice';
  message: string;
  unsupported?: true;
}

/** Why a job's tools cannot be served on an engine of kind `engine`, with the parameter at fault; null when they can. */
export function toolsRefusal(engine: string | undefined, input: ToolsInput): ToolsRefusal | null {
  const tools = input.tools ?? [];
  const choice = input.tool_choice;
  if (tools.length === 0) {
    if (choice !== undefined && choice !== 'none') return { param: 'tool_choice', message: 'tool_choice needs tools' };
    return null;
  }
  const names = new Set<string>();
  for (const t of tools) {
    if (names.has(t.name)) return { param: 'tools', message: `tool name ${JSON.stringify(t.name)} appears twice` };
    names.add(t.name);
  }
  if (choice === 'none') return null;
  const features = engineFeatures(engine);
  if (choice === undefined || choice === 'auto') {
    if (!features.autoToolCall) {
      return { param: 'tool_choice', unsupported: true, message: `automatic tool choice (tool_choice "auto", the default with tools) is not supported on the ${engine ?? 'unknown'} engine serving this model; send tool_choice "required", a named function, or "none"` };
    }
    const name = engine ?? 'unknown';
    if (input.format !== undefined && !features.autoToolCallWithFormat) {
      return { param: 'tools', unsupported: true, message: `tools the model may call (tool_choice "auto") cannot be combined with a response format on the ${name} engine serving this model` };
    }
    if ((input.logprobs || (input.top_logprobs ?? 0) > 0) && !features.autoToolCallWithLogprobs) {
      return { param: 'tools', unsupported: true, message: `tools the model may call (tool_choice "auto") cannot be combined with logprobs on the ${name} engine serving this model` };
    }
    return null;
  }
  if (typeof choice === 'object' && !names.has(choice.name)) return { param: 'tool_choice', message: `tool_choice names ${JSON.stringify(choice.name)}, which is not among the tools` };
  if (input.format !== undefined) return { param: 'tools', message: 'a forced tool call cannot be combined with a response format' };
  if (!features.forcedToolCall) {
    return { param: 'tools', unsupported: true, message: `forced tool calls are not supported on the ${engine ?? 'unknown'} engine serving this model` };
  }
  const compiled = compileJsonSchema(forcedCallSchema(forcedTools(input)!));
  if (!compiled.ok) return { param: 'tools', message: `tool parameters schema refused: ${describeRefusal(compiled.refusal)}` };
  return null;
}

/** A fresh id for a call the model made. */
export function toolCallId(): string {
  return `call_${randomBytes(12).toString('base64url')}`;
}

/** The call in a forced call's generated text; throws when the text is not one (cut short by the token limit). */
export function parseToolCall(text: string): ToolCall {
  const v = JSON.parse(text) as { name?: unknown; arguments?: unknown };
  if (typeof v !== 'object' || v === null || typeof v.name !== 'string' || v.arguments === undefined) throw new Error('not a tool call');
  return { id: toolCallId(), type: 'function', function: { name: v.name, arguments: JSON.stringify(v.arguments) } };
}

interface HistoryMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  images?: string[];
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

/**
 * History for an engine without a tool template: an assistant turn's calls are appended to its
 * text as `[tool call <id>] <name>(<arguments JSON>)` lines, a tool result becomes
 * `[tool result <id>] <content>`; the fields themselves are dropped.
 */
export function renderToolMessages<M extends HistoryMessage>(messages: readonly M[]): M[] {
  return messages.map((m) => {
    if (!m.tool_calls?.length && m.tool_call_id === undefined) return m;
    const { tool_calls: calls, tool_call_id: callId, ...rest } = m;
    if (calls?.length) {
      const lines = calls.map((c) => `[tool call ${c.id}] ${c.function.name}(${c.function.arguments})`);
      return { ...rest, content: [m.content, ...lines].filter((s) => s !== '').join('\n') } as M;
    }
    return { ...rest, content: `[tool result ${callId}] ${m.content}` } as M;
  });
}

/**
 * What a model is told of a forced call, as a system message put first (or appended to the
 * history's own first system message): the tools it may call, their descriptions and
 * parameters schemas, and the JSON shape the grammar holds it to.
 */
export function withToolsPrompt<M extends HistoryMessage>(messages: readonly M[], tools: readonly Tool[]): M[] {
  const lines = tools.map((t) => `- ${t.name}${t.description ? `: ${t.description}` : ''}\n  parameters: ${JSON.stringify(t.parameters ?? { type: 'object', properties: {} })}`);
  const text = `Call ${tools.length === 1 ? 'this tool' : 'one of these tools'} by answering with JSON {"name": <tool name>, "arguments": <its arguments>}:\n${lines.join('\n')}`;
  const [first, ...rest] = messages;
  if (first?.role === 'system') return [{ ...first, content: `${first.content}\n\n${text}` }, ...rest];
  return [{ role: 'system', content: text } as M, ...messages];
}
