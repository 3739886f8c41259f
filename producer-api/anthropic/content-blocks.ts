/**
 * Messages API content blocks turned into the fabric's chat messages (pure): `text`, `image`
 * (a base64 source), an assistant's `tool_use` (a call) and a user's `tool_result` (a `tool`
 * message answering that call, before the user's own text). Thinking blocks an assistant turn
 * carries back are dropped, as Anthropic drops them from the prompt. Any other block type is
 * refused with a 400 naming it and where it is.
 */
import { z } from 'zod';
import type { ChatMessage } from '../../protocol/job.ts';
import type { ToolCall } from '../../protocol/tools.ts';
import { describeZodError } from '../http/request-parsing.ts';
import { invalidRequest } from './errors.ts';

const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'] as const;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const textBlock = z.object({ type: z.literal('text'), text: z.string(), cache_control: z.unknown().optional(), citations: z.unknown().optional() }).strict();
const imageBlock = z
  .object({
    type: z.literal('image'),
    source: z.discriminatedUnion('type', [
      z.object({ type: z.literal('base64'), media_type: z.enum(IMAGE_TYPES), data: z.string().min(1).regex(BASE64, 'data must be base64') }).strict(),
      z.object({ type: z.literal('url'), url: z.string() }).strict(),
      z.object({ type: z.literal('file'), file_id: z.string() }).strict(),
    ]),
    cache_control: z.unknown().optional(),
  })
  .strict();
const toolUseBlock = z.object({ type: z.literal('tool_use'), id: z.string().min(1).max(200), name: z.string().min(1), input: z.record(z.string(), z.unknown()), cache_control: z.unknown().optional() }).strict();
const toolResultBlock = z
  .object({
    type: z.literal('tool_result'),
    tool_use_id: z.string().min(1).max(200),
    content: z.union([z.string(), z.array(z.object({ type: z.string() }).passthrough())]).optional(),
    is_error: z.boolean().optional(),
    cache_control: z.unknown().optional(),
  })
  .strict();
const thinkingBlock = z.object({ type: z.enum(['thinking', 'redacted_thinking']) }).passthrough();

/** Block types Anthropic knows that the fabric does not serve. */
const UNSERVED = new Set(['document', 'search_result', 'server_tool_use', 'web_search_tool_result', 'web_fetch_tool_result', 'code_execution_tool_result', 'mcp_tool_use', 'mcp_tool_result', 'container_upload']);

export type Block = { type: string } & Record<string, unknown>;
export type Content = string | Block[];

function check<T>(schema: z.ZodType<T>, block: Block, where: string): T {
  const r = schema.safeParse(block);
  if (!r.success) throw invalidRequest(`${where}.${describeZodError(r.error)}`);
  return r.data;
}

function refuseUnknown(block: Block, where: string): never {
  if (UNSERVED.has(block.type)) throw invalidRequest(`${where}: content blocks of type '${block.type}' are not supported`);
  throw invalidRequest(`${where}: unknown content block type '${block.type}'`);
}

/** An image block's base64 data; a URL or file source is refused (the fabric fetches nothing). */
function imageData(block: Block, where: string): string {
  const img = check(imageBlock, block, where);
  if (img.source.type !== 'base64') throw invalidRequest(`${where}.source.type: image sources of type '${img.source.type}' are not supported; send the image as base64`);
  return img.source.data;
}

/** Text and images of a content value where only those may be (the system prompt, a tool result). */
function textAndImages(value: Content, where: string, images: boolean): { text: string; images: string[] } {
  if (typeof value === 'string') return { text: value, images: [] };
  const out = { text: '', images: [] as string[] };
  value.forEach((block, j) => {
    if (block.type === 'text') out.text += check(textBlock, block, `${where}.${j}`).text;
    else if (block.type === 'image' && images) out.images.push(imageData(block, `${where}.${j}`));
    else refuseUnknown(block, `${where}.${j}`);
  });
  return out;
}

/** The system prompt's text (text blocks only). */
export function systemText(value: Content): string {
  return textAndImages(value, 'system', false).text;
}

/** One Messages turn as chat messages: tool results first (a user turn), then the turn's own text, images and calls. */
export function turnMessages(role: 'user' | 'assistant', value: Content, where: string): ChatMessage[] {
  if (typeof value === 'string') return [{ role, content: value }];
  const results: ChatMessage[] = [];
  const calls: ToolCall[] = [];
  const images: string[] = [];
  let text = '';
  value.forEach((block, j) => {
    const at = `${where}.${j}`;
    switch (block.type) {
      case 'text':
        text += check(textBlock, block, at).text;
        return;
      case 'image':
        images.push(imageData(block, at));
        return;
      case 'tool_use': {
        if (role !== 'assistant') throw invalidRequest(`${at}: tool_use blocks belong in assistant turns`);
        const use = check(toolUseBlock, block, at);
        calls.push({ id: use.id, type: 'function', function: { name: use.name, arguments: JSON.stringify(use.input) } });
        return;
      }
      case 'tool_result': {
        if (role !== 'user') throw invalidRequest(`${at}: tool_result blocks belong in user turns`);
        const r = check(toolResultBlock, block, at);
        const body = textAndImages(r.content ?? '', `${at}.content`, true);
        const content = r.is_error ? `[error] ${body.text}` : body.text;
        results.push({ role: 'tool', content, tool_call_id: r.tool_use_id, ...(body.images.length ? { images: body.images } : {}) });
        return;
      }
      case 'thinking':
      case 'redacted_thinking':
        if (role !== 'assistant') throw invalidRequest(`${at}: ${block.type} blocks belong in assistant turns`);
        check(thinkingBlock, block, at);
        return;
      default:
        refuseUnknown(block, at);
    }
  });
  const own: ChatMessage = { role, content: text, ...(images.length ? { images } : {}), ...(calls.length ? { tool_calls: calls } : {}) };
  // A user turn of tool results alone adds no empty user message after them.
  const hasOwn = text !== '' || images.length > 0 || calls.length > 0 || results.length === 0;
  return [...results, ...(hasOwn ? [own] : [])];
}
