/**
 * OpenAI request bodies (chat completions, completions, embeddings) validated and turned into
 * the fabric's job input. Pure: the routes and the Batch API's line validation share it.
 * Fields the fabric cannot honour are refused with a 400 naming the field, never dropped.
 * Unknown fields are ignored, as OpenAI-compatible servers do (`user`, `store`, `service_tier`).
 */
import { z } from 'zod';
import type { ChatMessage, GenerationOptions, JobInput, Task } from '../../protocol/job.ts';
import type { Tool, ToolCall, ToolChoice } from '../../protocol/tools.ts';
import { describeZodError, parseModelName } from '../http/request-parsing.ts';
import { OpenAiError } from './errors.ts';
import { contentOf, type ContentValue } from './content-parts.ts';

const contentSchema = z.union([z.string(), z.array(z.object({ type: z.string() }).passthrough())]);
const messageSchema = z.object({ role: z.string(), content: contentSchema.nullable().optional(), name: z.string().optional() }).passthrough();
const stopSchema = z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional();

const sampling = {
  model: z.string().min(1),
  max_tokens: z.number().int().min(1).nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop: stopSchema,
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  n: z.number().int().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).passthrough().nullable().optional(),
  logprobs: z.union([z.boolean(), z.number()]).nullable().optional(),
  logit_bias: z.record(z.string(), z.number()).nullable().optional(),
};

const chatSchema = z
  .object({
    ...sampling,
    messages: z.array(messageSchema).min(1),
    max_completion_tokens: z.number().int().min(1).nullable().optional(),
    response_format: z.object({ type: z.enum(['text', 'json_object', 'json_schema']), json_schema: z.object({ schema: z.record(z.string(), z.unknown()).optional() }).passthrough().optional() }).nullable().optional(),
    tools: z.array(z.unknown()).nullable().optional(),
    tool_choice: z.unknown().optional(),
    parallel_tool_calls: z.boolean().nullable().optional(),
    functions: z.array(z.unknown()).nullable().optional(),
    top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
    reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
  })
  .passthrough();

const completionSchema = z
  .object({
    ...sampling,
    prompt: z.union([z.string(), z.array(z.unknown())]),
    suffix: z.string().nullable().optional(),
    echo: z.boolean().nullable().optional(),
    best_of: z.number().int().nullable().optional(),
  })
  .passthrough();

const embeddingSchema = z
  .object({
    model: z.string().min(1),
    input: z.union([z.string(), z.array(z.unknown()).min(1).max(2048)]),
    encoding_format: z.enum(['float', 'base64']).optional(),
    dimensions: z.number().int().nullable().optional(),
  })
  .passthrough();

export type EncodingFormat = 'float' | 'base64';

/** What a route needs to submit and answer: the job's input plus how to shape the reply. */
export interface OpenAiJob {
  model: string;
  task: Task;
  input: JobInput;
  stream: boolean;
  includeUsage: boolean;
  encodingFormat: EncodingFormat;
}

export type OpenAiEndpoint = '/v1/chat/completions' | '/v1/completions' | '/v1/embeddings';
export const OPENAI_ENDPOINTS: readonly OpenAiEndpoint[] = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings'];

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw OpenAiError.invalid('request body must be a JSON object');
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw OpenAiError.invalid(describeZodError(r.error), issue?.path.length ? issue.path.join('.') : null);
  }
  return r.data;
}

/** Refuses a field whose value asks for something the fabric does not do. */
function refuse(when: boolean, param: string, message: string): void {
  if (when) throw OpenAiError.invalid(message, param);
}

function model(name: string): string {
  try {
    return parseModelName(name);
  } catch (err) {
    throw OpenAiError.invalid((err as Error).message, 'model');
  }
}

function options(b: z.infer<typeof completionSchema> | z.infer<typeof chatSchema>, maxTokens: number | null | undefined): GenerationOptions {
  refuse((b.n ?? 1) !== 1, 'n', 'n other than 1 is not supported; send n requests instead');
  refuse(!!b.logit_bias && Object.keys(b.logit_bias).length > 0, 'logit_bias', 'logit_bias is not supported');
  const o: GenerationOptions = {};
  if (maxTokens != null) o.num_predict = maxTokens;
  if (b.temperature != null) o.temperature = b.temperature;
  if (b.top_p != null) o.top_p = b.top_p;
  if (b.seed != null) o.seed = b.seed;
  if (b.stop != null) o.stop = b.stop;
  // Ollama's runner takes both penalties as options; engines without them ignore the keys.
  if (b.frequency_penalty != null) o.frequency_penalty = b.frequency_penalty;
  if (b.presence_penalty != null) o.presence_penalty = b.presence_penalty;
  return o;
}

function streamFlags(b: { stream?: boolean | null; stream_options?: { include_usage?: boolean } | null }) {
  return { stream: b.stream === true, includeUsage: b.stream === true && b.stream_options?.include_usage === true };
}

function messageContent(m: z.infer<typeof messageSchema>, i: number): { text: string; images: string[] } {
  if (m.content == null) {
    if (m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0) return { text: '', images: [] };
    throw OpenAiError.invalid(`messages[${i}].content is required`, `messages.${i}.content`);
  }
  return contentOf(m.content as ContentValue, i);
}

/** `reasoning_effort` as the job's reasoning switch: `none` off, `minimal` the lowest level, `xhigh` the highest. */
const THINK: Record<string, JobInput['think']> = { none: false, minimal: 'low', low: 'low', medium: 'medium', high: 'high', xhigh: 'high' };

/** Chat `logprobs` (a boolean) and `top_logprobs` (0..20, only with logprobs) as job fields. */
function chatLogprobs(b: z.infer<typeof chatSchema>): Pick<JobInput, 'logprobs' | 'top_logprobs'> {
  if (b.logprobs != null && typeof b.logprobs !== 'boolean') throw OpenAiError.invalid('logprobs must be a boolean on chat completions', 'logprobs');
  refuse(b.top_logprobs != null && b.logprobs !== true, 'top_logprobs', 'top_logprobs needs logprobs: true');
  if (b.logprobs !== true) return {};
  return { logprobs: true, ...(b.top_logprobs ? { top_logprobs: b.top_logprobs } : {}) };
}

/** Completions `logprobs` (0..5 alternatives per token) as job fields. */
function completionLogprobs(v: boolean | number | null | undefined): Pick<JobInput, 'logprobs' | 'top_logprobs'> {
  if (v == null || v === false) return {};
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 5) throw OpenAiError.invalid('logprobs must be an integer from 0 to 5 on completions', 'logprobs');
  return { logprobs: true, ...(v > 0 ? { top_logprobs: v } : {}) };
}

const ROLES: Record<string, ChatMessage['role']> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant', tool: 'tool' };

const functionTool = z.object({
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'function names use letters, digits, _ and -'), description: z.string().optional(), parameters: z.record(z.string(), z.unknown()).optional(), strict: z.boolean().nullable().optional() }).passthrough(),
});
const toolChoice = z.union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1) }).passthrough() })]);
const historyCall = z.object({ id: z.string().min(1).max(200), type: z.literal('function'), function: z.object({ name: z.string().min(1), arguments: z.string() }).passthrough() });

function parseTools(tools: unknown[]): Tool[] {
  return tools.map((t, i) => {
    const r = functionTool.safeParse(t);
    if (!r.success) throw OpenAiError.invalid(`tools[${i}]: only function tools {type: "function", function: {name, description?, parameters?}} are supported (${describeZodError(r.error)})`, 'tools');
    const f = r.data.function;
    return { name: f.name, ...(f.description !== undefined ? { description: f.description } : {}), ...(f.parameters ? { parameters: f.parameters } : {}) };
  });
}

function parseToolChoice(v: unknown): ToolChoice | undefined {
  if (v == null) return undefined;
  const r = toolChoice.safeParse(v);
  if (!r.success) throw OpenAiError.invalid('tool_choice must be "none", "auto", "required" or {type: "function", function: {name}}', 'tool_choice');
  return typeof r.data === 'string' ? r.data : { name: r.data.function.name };
}

/** An assistant turn's `tool_calls` and a tool result's `tool_call_id`, in the job's shape. */
function toolFields(m: z.infer<typeof messageSchema>, role: ChatMessage['role'], i: number): Pick<ChatMessage, 'tool_calls' | 'tool_call_id'> {
  if (role === 'tool') {
    if (typeof m.tool_call_id !== 'string' || m.tool_call_id === '') throw OpenAiError.invalid(`messages[${i}].tool_call_id is required on a tool message`, `messages.${i}.tool_call_id`);
    return { tool_call_id: m.tool_call_id };
  }
  if (role !== 'assistant' || m.tool_calls == null) return {};
  const r = z.array(historyCall).safeParse(m.tool_calls);
  if (!r.success) throw OpenAiError.invalid(`messages[${i}].tool_calls: ${describeZodError(r.error)}`, `messages.${i}.tool_calls`);
  if (r.data.length === 0) return {};
  const calls: ToolCall[] = r.data.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } }));
  return { tool_calls: calls };
}

/** `POST /v1/chat/completions` body -> a chat job. */
export function parseChatRequest(body: unknown): OpenAiJob {
  const b = parse(chatSchema, body);
  refuse(!!b.functions?.length, 'functions', 'the deprecated functions parameter is not supported; send tools');
  const messages: ChatMessage[] = b.messages.map((m, i) => {
    const role = ROLES[m.role];
    if (!role) throw OpenAiError.invalid(`messages[${i}].role ${JSON.stringify(m.role)} is not supported (system, developer, user, assistant, tool)`, `messages.${i}.role`);
    const { text, images } = messageContent(m, i);
    return { role, content: text, ...(images.length ? { images } : {}), ...toolFields(m, role, i) };
  });
  const input: JobInput = { messages, options: options(b, b.max_completion_tokens ?? b.max_tokens), ...chatLogprobs(b) };
  if (b.reasoning_effort != null) input.think = THINK[b.reasoning_effort];
  if (b.parallel_tool_calls != null) input.parallel_tool_calls = b.parallel_tool_calls;
  // Whether tools can be served (tool_choice, the engine, the parameters schemas) is the job service's check.
  if (b.tools?.length) input.tools = parseTools(b.tools);
  const choice = parseToolChoice(b.tool_choice);
  if (choice !== undefined) input.tool_choice = choice;
  const rf = b.response_format;
  if (rf?.type === 'json_object') input.format = 'json';
  if (rf?.type === 'json_schema') {
    if (!rf.json_schema?.schema) throw OpenAiError.invalid('response_format.json_schema.schema is required', 'response_format');
    input.format = rf.json_schema.schema;
  }
  return { model: model(b.model), task: 'chat', input, ...streamFlags(b), encodingFormat: 'float' };
}

/** `POST /v1/completions` body -> a generate job (raw prompt, no chat template beyond the engine's). */
export function parseCompletionRequest(body: unknown): OpenAiJob {
  const b = parse(completionSchema, body);
  let prompt: string;
  if (typeof b.prompt === 'string') prompt = b.prompt;
  else if (b.prompt.length === 1 && typeof b.prompt[0] === 'string') prompt = b.prompt[0];
  else throw OpenAiError.invalid('prompt must be one string (arrays of prompts and token ids are not supported)', 'prompt');
  refuse(!!b.echo, 'echo', 'echo is not supported');
  refuse((b.best_of ?? 1) !== 1, 'best_of', 'best_of other than 1 is not supported');
  const input: JobInput = { prompt, options: options(b, b.max_tokens), ...completionLogprobs(b.logprobs) };
  if (b.suffix) input.suffix = b.suffix;
  return { model: model(b.model), task: 'generate', input, ...streamFlags(b), encodingFormat: 'float' };
}

/** `POST /v1/embeddings` body -> an embed job. */
export function parseEmbeddingRequest(body: unknown): OpenAiJob {
  const b = parse(embeddingSchema, body);
  refuse(b.dimensions != null, 'dimensions', 'dimensions is not supported: the engines return the model\'s native size');
  let input: string | string[];
  if (typeof b.input === 'string') input = b.input;
  else if (b.input.every((x): x is string => typeof x === 'string')) input = b.input;
  else throw OpenAiError.invalid('input must be a string or an array of strings (token ids are not supported)', 'input');
  return { model: model(b.model), task: 'embed', input: { input }, stream: false, includeUsage: false, encodingFormat: b.encoding_format ?? 'float' };
}

export const PARSERS: Record<OpenAiEndpoint, (body: unknown) => OpenAiJob> = {
  '/v1/chat/completions': parseChatRequest,
  '/v1/completions': parseCompletionRequest,
  '/v1/embeddings': parseEmbeddingRequest,
};
