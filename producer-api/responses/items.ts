/**
 * Responses API items (the conversation as the API shows it) and their mapping onto the chat
 * job's messages. Pure. Input items are stored as given (with an id each) so `input_items` and
 * `previous_response_id` return and replay them; output items come from the job's output.
 */
import { randomBytes } from 'node:crypto';
import type { ChatMessage } from '../../protocol/job.ts';

export type InputContent =
  | { type: 'input_text'; text: string }
  | { type: 'output_text'; text: string; annotations: unknown[]; logprobs?: OutputLogprob[] }
  | { type: 'input_image'; image_url: string; detail: 'low' | 'high' | 'auto' };

/** One output token's log probability, with its top alternatives, in OpenAI's shape. */
export interface OutputLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export interface MessageItem {
  type: 'message';
  id: string;
  role: 'user' | 'system' | 'developer' | 'assistant';
  content: InputContent[];
  /** `incomplete`: the response's last message, cut by max_output_tokens. */
  status: 'completed' | 'in_progress' | 'incomplete';
}

export interface FunctionCallItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: 'completed' | 'in_progress';
}

export interface FunctionCallOutputItem {
  type: 'function_call_output';
  id: string;
  call_id: string;
  output: string;
  status: 'completed';
}

export interface ReasoningItem {
  type: 'reasoning';
  id: string;
  summary: { type: 'summary_text'; text: string }[];
}

export type ConversationItem = MessageItem | FunctionCallItem | FunctionCallOutputItem | ReasoningItem;

/** An id for an item the client sent without one. */
export function newItemId(prefix: 'msg' | 'fc' | 'fco' | 'rs'): string {
  return `${prefix}_${randomBytes(16).toString('hex')}`;
}

/** The base64 data of a `data:` URL (what the engines take as an image), or null for any other URL. */
export function dataUrlBase64(url: string): string | null {
  const m = /^data:[^;,]*(?:;[^;,]*)*;base64,(.*)$/s.exec(url);
  return m ? m[1]! : null;
}

const ROLE: Record<MessageItem['role'], ChatMessage['role']> = { user: 'user', system: 'system', developer: 'system', assistant: 'assistant' };

function messageOf(item: MessageItem): ChatMessage {
  const text = item.content.map((c) => (c.type === 'input_image' ? '' : c.text)).join('');
  const images = item.content.flatMap((c) => (c.type === 'input_image' ? [dataUrlBase64(c.image_url) ?? ''] : []));
  return { role: ROLE[item.role], content: text, ...(images.length ? { images } : {}) };
}

/**
 * The chat messages of a conversation: `function_call` items join the assistant turn just
 * before them (the text and calls of one answer are one turn), `function_call_output` items
 * become tool results, reasoning items are not replayed.
 */
export function itemsToMessages(items: readonly ConversationItem[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  let openTurn: ChatMessage | null = null;
  for (const item of items) {
    if (item.type === 'reasoning') continue;
    if (item.type === 'function_call') {
      const call = { id: item.call_id, type: 'function' as const, function: { name: item.name, arguments: item.arguments } };
      if (!openTurn) {
        openTurn = { role: 'assistant', content: '' };
        out.push(openTurn);
      }
      openTurn.tool_calls = [...(openTurn.tool_calls ?? []), call];
      continue;
    }
    if (item.type === 'function_call_output') {
      out.push({ role: 'tool', content: item.output, tool_call_id: item.call_id });
      openTurn = null;
      continue;
    }
    const m = messageOf(item);
    out.push(m);
    openTurn = m.role === 'assistant' ? m : null;
  }
  return out;
}
