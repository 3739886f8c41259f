/**
 * `POST /v1/responses` bodies validated and turned into a chat job's input. Pure. Fields the
 * fabric cannot honour are refused with a 400 naming the field, never dropped; built-in tools
 * (web search, file search, code interpreter, computer use, MCP, image generation, shells) are
 * refused by name, since the fabric runs no tools itself. Unknown fields are ignored, as the
 * OpenAI routes do.
 */
import { z } from 'zod';
import type { GenerationOptions, JobInput } from '../../protocol/job.ts';
import { forcedTools, type Tool, type ToolChoice } from '../../protocol/tools.ts';
import { describeZodError, parseModelName } from '../http/request-parsing.ts';
import { OpenAiError } from '../openai/errors.ts';
import { dataUrlBase64, itemsToMessages, newItemId, type ConversationItem, type InputContent } from './items.ts';

const effort = z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']);

/** The output text's log probabilities, asked for through `include`. */
export const INCLUDE_LOGPROBS = 'message.output_text.logprobs';
/**
 * `include` values taken: the logprobs; input image URLs (input items are kept as sent); and what
 * only the fabric's absent built-in tools or encrypted reasoning would fill, so there is nothing to add.
 */
const INCLUDABLE = new Set([INCLUDE_LOGPROBS, 'message.input_image.image_url', 'reasoning.encrypted_content', 'file_search_call.results', 'web_search_call.action.sources', 'web_search_call.results', 'code_interpreter_call.outputs', 'computer_call_output.output.image_url']);

const bodySchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.unknown()).max(10_000)]),
    instructions: z.string().nullable().optional(),
    tools: z.array(z.unknown()).max(128).nullable().optional(),
    tool_choice: z.unknown().optional(),
    parallel_tool_calls: z.boolean().nullable().optional(),
    text: z.object({ format: z.unknown().optional(), verbosity: z.enum(['low', 'medium', 'high']).nullable().optional() }).passthrough().nullable().optional(),
    max_output_tokens: z.number().int().min(1).max(1_000_000).nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    metadata: z.record(z.string().max(64), z.string().max(512)).nullable().optional(),
    store: z.boolean().nullable().optional(),
    previous_response_id: z.string().min(1).max(300).nullable().optional(),
    background: z.boolean().nullable().optional(),
    stream: z.boolean().nullable().optional(),
    reasoning: z.object({ effort: effort.nullable().optional(), summary: z.string().nullable().optional() }).passthrough().nullable().optional(),
    user: z.string().max(256).optional(),
    truncation: z.enum(['auto', 'disabled']).nullable().optional(),
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
    include: z.array(z.string()).max(16).nullable().optional(),
    conversation: z.unknown().optional(),
    prompt: z.unknown().optional(),
  })
  .passthrough();
type Body = z.infer<typeof bodySchema>;

const text = z.string();
const contentPart = z.discriminatedUnion('type', [
  z.object({ type: z.literal('input_text'), text }).passthrough(),
  z.object({ type: z.literal('output_text'), text }).passthrough(),
  z.object({ type: z.literal('input_image'), image_url: z.string().nullable().optional(), file_id: z.string().nullable().optional(), detail: z.enum(['low', 'high', 'auto']).optional() }).passthrough(),
]);
const messageItem = z
  .object({ type: z.literal('message').optional(), id: z.string().max(200).optional(), role: z.enum(['user', 'system', 'developer', 'assistant']), content: z.union([text, z.array(z.object({ type: z.string() }).passthrough()).max(1000)]) })
  .passthrough();
const callItem = z.object({ type: z.literal('function_call'), id: z.string().max(200).optional(), call_id: z.string().min(1).max(200), name: z.string().min(1).max(64), arguments: z.string() }).passthrough();
const callOutputItem = z
  .object({ type: z.literal('function_call_output'), id: z.string().max(200).nullable().optional(), call_id: z.string().min(1).max(200), output: z.union([text, z.array(z.object({ type: z.string(), text: z.string().optional() }).passthrough())]) })
  .passthrough();
const reasoningItem = z.object({ type: z.literal('reasoning'), id: z.string().max(200).optional(), summary: z.array(z.object({ text }).passthrough()).optional() }).passthrough();

const functionTool = z
  .object({
    type: z.literal('function'),
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'function names use letters, digits, _ and -'),
    description: z.string().nullable().optional(),
    parameters: z.record(z.string(), z.unknown()).nullable().optional(),
    strict: z.boolean().nullable().optional(),
  })
  .passthrough();

/** A function tool as the response echoes it. */
export interface FunctionToolView {
  type: 'function';
  name: string;
  description: string | null;
  parameters: Record<string, unknown> | null;
  strict: boolean;
}

export type TextFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict: boolean; description?: string };

/** The request's fields a response object echoes back. */
export interface ResponseParams {
  instructions: string | null;
  tools: FunctionToolView[];
  tool_choice: 'none' | 'auto' | 'required' | { type: 'function'; name: string };
  parallel_tool_calls: boolean;
  text: { format: TextFormat };
  max_output_tokens: number | null;
  temperature: number | null;
  top_p: number | null;
  metadata: Record<string, string>;
  store: boolean;
  background: boolean;
  previous_response_id: string | null;
  reasoning: { effort: z.infer<typeof effort> | null; summary: string | null };
  user: string | null;
  /** Alternatives per output token (0-20); null when not asked. Absent in records kept before it existed. */
  top_logprobs?: number | null;
}

/** A parsed request: the job's input before the history is put in front, and how to answer. */
export interface ResponsesRequest {
  model: string;
  params: ResponseParams;
  /** The request's input items, each with an id. */
  input: ConversationItem[];
  /** The job input without messages (set by `jobInput` once the history is known). */
  base: Omit<JobInput, 'messages'>;
  stream: boolean;
  /** Whether the answer is a forced tool call (its text is held back; the call comes whole or in pieces). */
  forced: boolean;
}

const invalid = (message: string, param: string | null) => OpenAiError.invalid(message, param);

function parseBody(body: unknown): Body {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('request body must be a JSON object', null);
  const r = bodySchema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw invalid(describeZodError(r.error), issue?.path.length ? issue.path.join('.') : null);
  }
  return r.data;
}

function content(value: string | { type: string }[], role: string, where: string): InputContent[] {
  if (typeof value === 'string') return [{ type: role === 'assistant' ? 'output_text' : 'input_text', ...(role === 'assistant' ? { text: value, annotations: [] } : { text: value }) } as InputContent];
  return value.map((raw, j) => {
    const r = contentPart.safeParse(raw);
    if (!r.success) {
      const known = ['input_text', 'output_text', 'input_image'].includes(raw.type);
      throw invalid(known ? `${where}.${j}: ${describeZodError(r.error)}` : `${where}.${j}: content of type ${JSON.stringify(raw.type)} is not supported (input_text, input_image, output_text)`, `${where}.${j}`);
    }
    const p = r.data;
    if (p.type === 'input_text') return { type: 'input_text', text: p.text };
    if (p.type === 'output_text') return { type: 'output_text', text: p.text, annotations: [] };
    if (!p.image_url) throw invalid(`${where}.${j}: input_image needs image_url (file_id is not supported)`, `${where}.${j}.image_url`);
    if (dataUrlBase64(p.image_url) === null) throw invalid(`${where}.${j}: only data: URLs with base64 images are supported (the fabric does not fetch URLs)`, `${where}.${j}.image_url`);
    return { type: 'input_image', image_url: p.image_url, detail: p.detail ?? 'auto' };
  });
}

function item(raw: unknown, i: number): ConversationItem | null {
  const where = `input.${i}`;
  const type = raw !== null && typeof raw === 'object' ? (raw as { type?: unknown }).type : undefined;
  const check = <T>(schema: z.ZodType<T>): T => {
    const r = schema.safeParse(raw);
    if (!r.success) throw invalid(`${where}: ${describeZodError(r.error)}`, where);
    return r.data;
  };
  if (type === undefined || type === 'message') {
    const m = check(messageItem);
    return { type: 'message', id: m.id ?? newItemId('msg'), role: m.role, content: content(m.content, m.role, `${where}.content`), status: 'completed' };
  }
  if (type === 'function_call') {
    const c = check(callItem);
    return { type: 'function_call', id: c.id ?? newItemId('fc'), call_id: c.call_id, name: c.name, arguments: c.arguments, status: 'completed' };
  }
  if (type === 'function_call_output') {
    const o = check(callOutputItem);
    const output = typeof o.output === 'string' ? o.output : o.output.map((p) => p.text ?? '').join('');
    return { type: 'function_call_output', id: o.id ?? newItemId('fco'), call_id: o.call_id, output, status: 'completed' };
  }
  // A reasoning item sent back from an earlier answer: kept in the input items, not shown to the model.
  if (type === 'reasoning') {
    const r = check(reasoningItem);
    return { type: 'reasoning', id: r.id ?? newItemId('rs'), summary: (r.summary ?? []).map((s) => ({ type: 'summary_text', text: s.text })) };
  }
  if (type === 'item_reference') throw invalid(`${where}: item references are not supported; send the item itself or use previous_response_id`, where);
  throw invalid(`${where}: items of type ${JSON.stringify(type)} are not supported (message, function_call, function_call_output, reasoning)`, `${where}.type`);
}

function parseTools(tools: unknown[]): FunctionToolView[] {
  return tools.map((t, i) => {
    const type = t !== null && typeof t === 'object' ? (t as { type?: unknown }).type : undefined;
    if (type !== 'function') {
      throw invalid(`tools[${i}]: the ${JSON.stringify(type)} tool is not supported: the fabric runs no built-in tools (web search, file search, code interpreter, computer use, MCP, image generation, shell); declare a function tool and run it yourself`, `tools.${i}.type`);
    }
    const r = functionTool.safeParse(t);
    if (!r.success) throw invalid(`tools[${i}]: ${describeZodError(r.error)}`, `tools.${i}`);
    return { type: 'function', name: r.data.name, description: r.data.description ?? null, parameters: r.data.parameters ?? null, strict: r.data.strict ?? true };
  });
}

function parseToolChoice(v: unknown): ResponseParams['tool_choice'] | undefined {
  if (v == null) return undefined;
  if (v === 'none' || v === 'auto' || v === 'required') return v;
  if (typeof v === 'object' && (v as { type?: unknown }).type === 'function' && typeof (v as { name?: unknown }).name === 'string') return { type: 'function', name: (v as { name: string }).name };
  const type = typeof v === 'object' && v !== null ? (v as { type?: unknown }).type : undefined;
  if (typeof type === 'string') throw invalid(`tool_choice: ${JSON.stringify(type)} is not supported: the fabric runs no built-in tools; use "none", "auto", "required" or {type: "function", name}`, 'tool_choice');
  throw invalid('tool_choice must be "none", "auto", "required" or {type: "function", name}', 'tool_choice');
}

function parseFormat(v: unknown): TextFormat {
  if (v == null) return { type: 'text' };
  const f = v as { type?: unknown; name?: unknown; schema?: unknown; strict?: unknown; description?: unknown };
  if (f.type === 'text') return { type: 'text' };
  if (f.type === 'json_object') return { type: 'json_object' };
  if (f.type === 'json_schema') {
    if (f.schema === null || typeof f.schema !== 'object' || Array.isArray(f.schema)) throw invalid('text.format.schema must be a JSON Schema object', 'text.format.schema');
    if (typeof f.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(f.name)) throw invalid('text.format.name is required: letters, digits, _ and -, at most 64', 'text.format.name');
    return { type: 'json_schema', name: f.name, schema: f.schema as Record<string, unknown>, strict: f.strict !== false, ...(typeof f.description === 'string' ? { description: f.description } : {}) };
  }
  throw invalid('text.format.type must be "text", "json_object" or "json_schema"', 'text.format.type');
}

/** The job's `think` for a reasoning effort: off for `none`, else the nearest level Ollama takes. */
function think(e: ResponseParams['reasoning']['effort']): JobInput['think'] | undefined {
  if (e == null) return undefined;
  if (e === 'none') return false;
  if (e === 'minimal') return 'low';
  return e === 'xhigh' ? 'high' : e;
}

function refuseUnsupported(b: Body): void {
  if (b.conversation != null) throw invalid('conversation is not supported; chain responses with previous_response_id', 'conversation');
  if (b.prompt != null) throw invalid('prompt templates are not supported; send input and instructions', 'prompt');
  const unknown = (b.include ?? []).findIndex((v) => !INCLUDABLE.has(v));
  if (unknown >= 0) throw invalid(`include value ${JSON.stringify(b.include![unknown])} is not supported; supported: ${[...INCLUDABLE].join(', ')}`, `include.${unknown}`);
  if (b.metadata && Object.keys(b.metadata).length > 16) throw invalid('metadata holds at most 16 keys', 'metadata');
  if (b.background && b.store === false) throw invalid('background responses must be stored: background: true needs store: true', 'store');
}

/** `POST /v1/responses` body -> the request, validated. */
export function parseResponsesRequest(body: unknown): ResponsesRequest {
  const b = parseBody(body);
  refuseUnsupported(b);
  let model: string;
  try {
    model = parseModelName(b.model);
  } catch (err) {
    throw invalid((err as Error).message, 'model');
  }
  const input = typeof b.input === 'string' ? [{ type: 'message' as const, id: newItemId('msg'), role: 'user' as const, content: [{ type: 'input_text' as const, text: b.input }], status: 'completed' as const }] : b.input.map(item).filter((x): x is ConversationItem => x !== null);
  const tools = b.tools?.length ? parseTools(b.tools) : [];
  const choice = parseToolChoice(b.tool_choice);
  const format = parseFormat(b.text?.format);
  const params: ResponseParams = {
    instructions: b.instructions ?? null,
    tools,
    tool_choice: choice ?? 'auto',
    parallel_tool_calls: b.parallel_tool_calls ?? true,
    text: { format },
    max_output_tokens: b.max_output_tokens ?? null,
    temperature: b.temperature ?? null,
    top_p: b.top_p ?? null,
    metadata: b.metadata ?? {},
    store: b.store ?? true,
    background: b.background ?? false,
    previous_response_id: b.previous_response_id ?? null,
    reasoning: { effort: b.reasoning?.effort ?? null, summary: b.reasoning?.summary ?? null },
    user: b.user ?? null,
    top_logprobs: b.top_logprobs ?? null,
  };
  const options: GenerationOptions = {};
  if (params.max_output_tokens !== null) options.num_predict = params.max_output_tokens;
  if (params.temperature !== null) options.temperature = params.temperature;
  if (params.top_p !== null) options.top_p = params.top_p;
  const base: Omit<JobInput, 'messages'> = { options };
  if (tools.length) base.tools = tools.map((t): Tool => ({ name: t.name, ...(t.description !== null ? { description: t.description } : {}), ...(t.parameters ? { parameters: t.parameters } : {}) }));
  if (choice !== undefined) base.tool_choice = typeof choice === 'string' ? choice : ({ name: choice.name } satisfies ToolChoice);
  if (b.parallel_tool_calls != null) base.parallel_tool_calls = b.parallel_tool_calls;
  if (format.type === 'json_object') base.format = 'json';
  if (format.type === 'json_schema') base.format = format.schema;
  const t = think(params.reasoning.effort);
  if (t !== undefined) base.think = t;
  // Log probabilities when `include` asks for them, or alternatives are asked for by count.
  if (b.include?.includes(INCLUDE_LOGPROBS) || (b.top_logprobs ?? 0) > 0) {
    base.logprobs = true;
    if (b.top_logprobs) base.top_logprobs = b.top_logprobs;
  }
  return { model, params, input, base, stream: b.stream === true, forced: forcedTools(base) !== null };
}

/** The job input: the instructions, then the history (a previous response's items), then this request's input. */
export function jobInput(req: ResponsesRequest, history: readonly ConversationItem[]): JobInput {
  // A call output answers a call of this input or of the previous response, as OpenAI requires.
  const calls = new Set([...history, ...req.input].flatMap((i) => (i.type === 'function_call' ? [i.call_id] : [])));
  const orphan = req.input.findIndex((i) => i.type === 'function_call_output' && !calls.has(i.call_id));
  if (orphan >= 0) {
    const id = (req.input[orphan] as { call_id: string }).call_id;
    throw invalid(`No tool call found for function call output with call_id ${id}; send its function_call item or previous_response_id`, `input.${orphan}.call_id`);
  }
  const messages = itemsToMessages([...history, ...req.input]);
  if (req.params.instructions) messages.unshift({ role: 'system', content: req.params.instructions });
  return { ...req.base, messages };
}
