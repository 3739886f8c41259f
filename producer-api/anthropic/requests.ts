/**
 * Messages API request bodies (`POST /v1/messages` and `/v1/messages/count_tokens`) validated
 * and turned into the fabric's chat job input. Pure. As Anthropic does, unknown top-level fields
 * are refused ("Extra inputs are not permitted"); fields and content blocks the fabric cannot
 * honour yet (tools, images, documents, thinking) are refused with a 400 naming them.
 */
import { z } from 'zod';
import { optionsSchema, type ChatMessage, type GenerationOptions, type JobInput } from '../../protocol/job.ts';
import { describeZodError, parseModelName } from '../http/request-parsing.ts';
import { invalidRequest } from './errors.ts';

/** Block types Anthropic knows that the fabric does not take yet (a tool-calling core is on its way). */
const NOT_YET = new Set(['image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', 'server_tool_use', 'web_search_tool_result', 'search_result', 'container_upload']);

const textBlock = z.object({ type: z.literal('text'), text: z.string(), cache_control: z.unknown().optional(), citations: z.unknown().optional() }).strict();
const anyBlock = z.object({ type: z.string() }).passthrough();
const content = z.union([z.string(), z.array(anyBlock)]);

const countFields = {
  model: z.string().min(1),
  messages: z.array(z.object({ role: z.enum(['user', 'assistant']), content }).strict()).min(1),
  system: content.optional(),
  tools: z.array(z.unknown()).optional(),
  tool_choice: z.object({ type: z.string() }).passthrough().optional(),
  thinking: z.object({ type: z.string() }).passthrough().optional(),
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

/** The text of a content value: a string, or text blocks joined; any other block is refused by type. */
function text(value: z.infer<typeof content>, where: string): string {
  if (typeof value === 'string') return value;
  return value
    .map((block, j) => {
      if (NOT_YET.has(block.type)) throw invalidRequest(`${where}.${j}: content blocks of type '${block.type}' are not supported yet`);
      const t = textBlock.safeParse(block);
      if (!t.success) {
        if (block.type !== 'text') throw invalidRequest(`${where}.${j}: unknown content block type '${block.type}'`);
        throw invalidRequest(`${where}.${j}.${describeZodError(t.error)}`);
      }
      return t.data.text;
    })
    .join('');
}

/** Refuses what is valid for Anthropic but not done by the fabric yet. */
function refuseNotYet(b: z.infer<typeof countSchema>): void {
  if (b.tools?.length) throw invalidRequest('tools: tool use is not supported yet');
  if (b.tool_choice && b.tool_choice.type !== 'none') throw invalidRequest(`tool_choice: '${b.tool_choice.type}' is not supported yet (only 'none')`);
  if (b.thinking && b.thinking.type !== 'disabled') throw invalidRequest('thinking: extended thinking is not supported yet');
  if (b.mcp_servers?.length) throw invalidRequest('mcp_servers: MCP servers are not supported');
}

function model(name: string): string {
  try {
    return parseModelName(name);
  } catch (err) {
    throw invalidRequest(`model: ${(err as Error).message}`);
  }
}

/** The chat messages of a request: the system prompt first (when not empty), then the turns. */
function chatMessages(b: z.infer<typeof countSchema>): ChatMessage[] {
  const out: ChatMessage[] = [];
  const system = b.system === undefined ? '' : text(b.system, 'system');
  if (system) out.push({ role: 'system', content: system });
  b.messages.forEach((m, i) => out.push({ role: m.role, content: text(m.content, `messages.${i}.content`) }));
  return out;
}

/** `POST /v1/messages` body -> a chat job. */
export function parseMessagesRequest(body: unknown): MessagesJob {
  const b = parse(messagesSchema, body);
  refuseNotYet(b);
  if (b.container !== undefined) throw invalidRequest('container: code execution containers are not supported');
  const options: GenerationOptions = { num_predict: b.max_tokens };
  if (b.temperature !== undefined) options.temperature = b.temperature;
  if (b.top_p !== undefined) options.top_p = b.top_p;
  if (b.top_k !== undefined) options.top_k = b.top_k;
  if (b.stop_sequences?.length) options.stop = b.stop_sequences;
  // The job's own bounds (num_predict at most 1,000,000...), checked where the fields have their Anthropic names.
  const checked = optionsSchema.safeParse(options);
  if (!checked.success) throw invalidRequest(describeZodError(checked.error).replace(/^num_predict:/, 'max_tokens:').replace(/^stop:/, 'stop_sequences:'));
  return { model: model(b.model), input: { messages: chatMessages(b), options }, stream: b.stream === true };
}

/** `POST /v1/messages/count_tokens` body -> the chat input whose prompt is counted. */
export function parseCountTokensRequest(body: unknown): { model: string; input: JobInput } {
  const b = parse(countSchema, body);
  refuseNotYet(b);
  return { model: model(b.model), input: { messages: chatMessages(b) } };
}
