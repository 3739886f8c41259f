/**
 * Messages API request bodies (`POST /v1/messages` and `/v1/messages/count_tokens`) validated
 * and turned into the fabric's chat job input. Pure. As Anthropic does, unknown top-level fields
 * are refused ("Extra inputs are not permitted"). Custom tools (`input_schema`) become the job's
 * tools; `tool_choice` auto / any / tool / none becomes auto / required / the named tool / none;
 * `thinking` enabled becomes `think`. What the fabric cannot run (server tools, MCP servers,
 * containers, documents) is refused with a 400 naming it.
 */
import { z } from 'zod';
import { optionsSchema, type ChatMessage, type GenerationOptions, type JobInput } from '../../protocol/job.ts';
import { toolSchema, type Tool, type ToolChoice } from '../../protocol/tools.ts';
import { describeZodError, parseModelName } from '../http/request-parsing.ts';
import { systemText, turnMessages, type Content } from './content-blocks.ts';
import { invalidRequest } from './errors.ts';

const anyBlock = z.object({ type: z.string() }).passthrough();
const content = z.union([z.string(), z.array(anyBlock)]);

const customTool = z
  .object({
    type: z.literal('custom').optional(),
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, 'tool names use letters, digits, _ and -'),
    description: z.string().optional(),
    input_schema: z.object({ type: z.literal('object') }).passthrough(),
    cache_control: z.unknown().optional(),
  })
  .strict();
const toolChoice = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }).strict(),
  z.object({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }).strict(),
  z.object({ type: z.literal('tool'), name: z.string().min(1), disable_parallel_tool_use: z.boolean().optional() }).strict(),
  z.object({ type: z.literal('none') }).strict(),
]);
const thinking = z.discriminatedUnion('type', [
  z.object({ type: z.literal('enabled'), budget_tokens: z.number().int().min(1) }).strict(),
  z.object({ type: z.literal('disabled') }).strict(),
]);

const countFields = {
  model: z.string().min(1),
  messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content }).strict()).min(1),
  system: content.optional(),
  tools: z.array(z.object({ name: z.string().optional(), type: z.string().optional() }).passthrough()).optional(),
  tool_choice: toolChoice.optional(),
  thinking: thinking.optional(),
  mcp_servers: z.array(z.unknown()).optional(),
};

const countSchema = z.object(countFields).strict();

const messagesSchema = z
  .object({
    ...countFields,
    max_tokens: z.number().int().min(1),
    stop_sequences: z.array(z.string()).max(16).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().min(0).optional(),
    metadata: z.object({ user_id: z.string().max(256).nullable().optional() }).strict().optional(),
    stream: z.boolean().optional(),
    service_tier: z.enum(['auto', 'standard_only']).optional(),
    container: z.unknown().optional(),
  })
  .strict();

/** What the route needs to submit and answer: the chat job's input and how to shape the reply. */
export interface MessagesJob {
  model: string;
  input: JobInput;
  stream: boolean;
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidRequest('request body must be a JSON object');
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const extra = r.error.issues.find((i) => i.code === 'unrecognized_keys');
  if (extra && extra.code === 'unrecognized_keys') {
    const where = extra.path.length ? `${extra.path.join('.')}.` : '';
    throw invalidRequest(`${where}${extra.keys[0]}: Extra inputs are not permitted`);
  }
  throw invalidRequest(describeZodError(r.error));
}

function model(name: string): string {
  try {
    return parseModelName(name);
  } catch (err) {
    throw invalidRequest(`model: ${(err as Error).message}`);
  }
}

/** Custom tools as the job's tools; a server tool (web search, bash, computer use...) is refused by name. */
function tools(list: NonNullable<z.infer<typeof countSchema>['tools']>): Tool[] {
  return list.map((t, i) => {
    if (t.type !== undefined && t.type !== 'custom') throw invalidRequest(`tools.${i}: the server tool '${t.type}'${t.name ? ` (${t.name})` : ''} cannot be run by the fabric; send custom tools with an input_schema`);
    const r = customTool.safeParse(t);
    if (!r.success) throw invalidRequest(`tools.${i}.${describeZodError(r.error)}`);
    const tool: Tool = { name: r.data.name, parameters: r.data.input_schema };
    if (r.data.description !== undefined) tool.description = r.data.description;
    const checked = toolSchema.safeParse(tool);
    if (!checked.success) throw invalidRequest(`tools.${i}.${describeZodError(checked.error)}`);
    return tool;
  });
}

const CHOICE: Record<'auto' | 'any' | 'none', ToolChoice> = { auto: 'auto', any: 'required', none: 'none' };

/** The job fields of tools, tool_choice and thinking. */
function agentFields(b: z.infer<typeof countSchema>): Partial<JobInput> {
  if (b.mcp_servers?.length) throw invalidRequest('mcp_servers: MCP servers are not supported');
  const out: Partial<JobInput> = {};
  if (b.tools?.length) out.tools = tools(b.tools);
  const c = b.tool_choice;
  if (c && (out.tools || c.type !== 'none')) {
    if (!out.tools) throw invalidRequest(`tool_choice: '${c.type}' needs tools`);
    out.tool_choice = c.type === 'tool' ? { name: c.name } : CHOICE[c.type];
    if (c.type !== 'none' && c.disable_parallel_tool_use) out.parallel_tool_calls = false;
  }
  if (b.thinking?.type === 'enabled') out.think = true;
  return out;
}

/** The chat messages of a request: the system prompt first (when not empty), then the turns. */
function chatMessages(b: z.infer<typeof countSchema>): ChatMessage[] {
  const out: ChatMessage[] = [];
  const system = b.system === undefined ? '' : systemText(b.system as Content);
  if (system) out.push({ role: 'system', content: system });
  b.messages.forEach((m, i) => out.push(...turnMessages(m.role, m.content as Content, `messages.${i}.content`)));
  return out;
}

/** `POST /v1/messages` body -> a chat job. */
export function parseMessagesRequest(body: unknown): MessagesJob {
  const b = parse(messagesSchema, body);
  if (b.container !== undefined) throw invalidRequest('container: code execution containers are not supported');
  if (b.thinking?.type === 'enabled' && b.thinking.budget_tokens >= b.max_tokens) throw invalidRequest('thinking.budget_tokens: must be less than max_tokens');
  const options: GenerationOptions = { num_predict: b.max_tokens };
  if (b.temperature !== undefined) options.temperature = b.temperature;
  if (b.top_p !== undefined) options.top_p = b.top_p;
  if (b.top_k !== undefined) options.top_k = b.top_k;
  if (b.stop_sequences?.length) options.stop = b.stop_sequences;
  // The job's own bounds (num_predict at most 1,000,000...), checked where the fields have their Anthropic names.
  const checked = optionsSchema.safeParse(options);
  if (!checked.success) throw invalidRequest(describeZodError(checked.error).replace(/^num_predict:/, 'max_tokens:').replace(/^stop:/, 'stop_sequences:'));
  const input: JobInput = { messages: chatMessages(b), options, ...agentFields(b) };
  return { model: model(b.model), input, stream: b.stream === true };
}

/** `POST /v1/messages/count_tokens` body -> the chat input whose prompt is counted. */
export function parseCountTokensRequest(body: unknown): { model: string; input: JobInput } {
  const b = parse(countSchema, body);
  return { model: model(b.model), input: { messages: chatMessages(b), ...agentFields(b) } };
}
