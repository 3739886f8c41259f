/**
 * The Responses stream's semantic events, built from a job's canonical events (pure). The
 * events and their sequence numbers are a function of the job's event stream alone, so any API
 * process following the same job from its start writes the same sequence, and a client resumes
 * with `starting_after`: the writer numbers every event and hands on only those after it.
 *
 * Order: response.created, response.in_progress, then per output item output_item.added, its
 * parts and deltas, its done events, output_item.done; then response.completed (or .incomplete
 * when max_output_tokens cut it, .failed otherwise) carrying the whole response. Log
 * probabilities, which a job reports at its end, come whole on `output_text.done` and the parts
 * and items after it; each `output_text.delta` carries an empty list.
 */
import type { ConversationEvent } from '../../protocol/conversation.ts';
import type { ConversationItem, FunctionCallItem, MessageItem, OutputLogprob, ReasoningItem } from './items.ts';
import { outputIds, type ResponseObject } from './render.ts';

export interface ResponseStreamEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

type Open =
  | { kind: 'reasoning'; id: string; index: number; text: string }
  | { kind: 'message'; id: string; index: number; text: string }
  | { kind: 'call'; id: string; index: number; callId: string; name: string; args: string };

const TERMINAL: Record<string, string> = { completed: 'response.completed', incomplete: 'response.incomplete' };

export class ResponseEventWriter {
  private seq = 0;
  private outputCount = 0;
  private messages = 0;
  private reasoned = false;
  private current: Open | null = null;
  private readonly calls = new Map<number, Extract<Open, { kind: 'call' }>>();
  private readonly jobId: string;
  private readonly after: number;
  private readonly emit: (ev: ResponseStreamEvent) => void;

  /** `after`: the last sequence number the client has (-1: none). */
  constructor(jobId: string, emit: (ev: ResponseStreamEvent) => void, after = -1) {
    this.jobId = jobId;
    this.emit = emit;
    this.after = after;
  }

  private send(type: string, body: Record<string, unknown>): void {
    const sequence_number = this.seq++;
    if (sequence_number > this.after) this.emit({ type, sequence_number, ...body });
  }

  /** response.created and response.in_progress with the response as it starts. */
  start(snapshot: ResponseObject): void {
    this.send('response.created', { response: snapshot });
    this.send('response.in_progress', { response: { ...snapshot, status: 'in_progress' } });
  }

  on(ev: ConversationEvent): void {
    switch (ev.type) {
      case 'text':
        return this.text(ev.text);
      case 'reasoning':
        return this.reasoning(ev.text);
      case 'tool_call_start': {
        this.closeCurrent();
        const call = { kind: 'call' as const, id: outputIds.call(this.jobId, ev.index), index: this.outputCount++, callId: ev.id, name: ev.name, args: '' };
        this.calls.set(ev.index, call);
        this.send('response.output_item.added', { output_index: call.index, item: this.callItem(call, 'in_progress') });
        return;
      }
      case 'tool_call_delta': {
        const call = this.calls.get(ev.index);
        if (!call || ev.arguments === '') return;
        call.args += ev.arguments;
        this.send('response.function_call_arguments.delta', { item_id: call.id, output_index: call.index, delta: ev.arguments });
        return;
      }
      case 'tool_call_end': {
        const call = this.calls.get(ev.index);
        if (call) this.closeCall(ev.index, call);
        return;
      }
    }
  }

  /** Closes what is open, adds the items the stream never showed, then the terminal event with `final`. */
  finish(final: ResponseObject): void {
    const message = (final.output as ConversationItem[]).find((i): i is MessageItem => i.type === 'message');
    const logprobs = message?.content.find((c) => c.type === 'output_text')?.logprobs;
    this.closeCurrent(message?.status === 'incomplete' ? 'incomplete' : 'completed', logprobs);
    for (const [index, call] of this.calls) this.closeCall(index, call);
    for (const item of final.output as ConversationItem[]) {
      if (item.type === 'reasoning' && !this.reasoned) {
        this.reasoning(item.summary.map((s) => s.text).join(''));
        this.closeCurrent();
      }
      if (item.type === 'message' && this.messages === 0) {
        this.openMessage();
        const text = item.content.map((c) => ('text' in c ? c.text : '')).join('');
        if (text) this.text(text);
        this.closeCurrent(item.status === 'incomplete' ? 'incomplete' : 'completed', logprobs);
      }
    }
    this.send(TERMINAL[final.status] ?? 'response.failed', { response: final });
  }

  private text(delta: string): void {
    if (delta === '') return;
    if (this.current?.kind !== 'message') this.openMessage();
    const m = this.current as Extract<Open, { kind: 'message' }>;
    m.text += delta;
    this.send('response.output_text.delta', { item_id: m.id, output_index: m.index, content_index: 0, delta, logprobs: [] });
  }

  private reasoning(delta: string): void {
    if (delta === '') return;
    if (this.current?.kind !== 'reasoning') {
      this.closeCurrent();
      const id = this.reasoned ? `${outputIds.reasoning(this.jobId)}_${this.outputCount}` : outputIds.reasoning(this.jobId);
      this.reasoned = true;
      this.current = { kind: 'reasoning', id, index: this.outputCount++, text: '' };
      this.send('response.output_item.added', { output_index: this.current.index, item: { type: 'reasoning', id, summary: [] } });
      this.send('response.reasoning_summary_part.added', { item_id: id, output_index: this.current.index, summary_index: 0, part: { type: 'summary_text', text: '' } });
    }
    const r = this.current as Extract<Open, { kind: 'reasoning' }>;
    r.text += delta;
    this.send('response.reasoning_summary_text.delta', { item_id: r.id, output_index: r.index, summary_index: 0, delta });
  }

  private openMessage(): void {
    this.closeCurrent();
    const id = this.messages === 0 ? outputIds.message(this.jobId) : `${outputIds.message(this.jobId)}_${this.messages}`;
    this.messages++;
    const m = { kind: 'message' as const, id, index: this.outputCount++, text: '' };
    this.current = m;
    this.send('response.output_item.added', { output_index: m.index, item: { type: 'message', id, status: 'in_progress', role: 'assistant', content: [] } });
    this.send('response.content_part.added', { item_id: id, output_index: m.index, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
  }

  /** `logprobs`: the message's, known once the job ended (closing it from `finish`). */
  private closeCurrent(status: MessageItem['status'] = 'completed', logprobs?: OutputLogprob[]): void {
    const c = this.current;
    this.current = null;
    if (!c || c.kind === 'call') return;
    if (c.kind === 'reasoning') {
      const part = { type: 'summary_text' as const, text: c.text };
      this.send('response.reasoning_summary_text.done', { item_id: c.id, output_index: c.index, summary_index: 0, text: c.text });
      this.send('response.reasoning_summary_part.done', { item_id: c.id, output_index: c.index, summary_index: 0, part });
      this.send('response.output_item.done', { output_index: c.index, item: { type: 'reasoning', id: c.id, summary: [part] } satisfies ReasoningItem });
      return;
    }
    const part = { type: 'output_text' as const, text: c.text, annotations: [], ...(logprobs ? { logprobs } : {}) };
    this.send('response.output_text.done', { item_id: c.id, output_index: c.index, content_index: 0, text: c.text, logprobs: logprobs ?? [] });
    this.send('response.content_part.done', { item_id: c.id, output_index: c.index, content_index: 0, part });
    this.send('response.output_item.done', { output_index: c.index, item: { type: 'message', id: c.id, status, role: 'assistant', content: [part] } satisfies MessageItem });
  }

  private closeCall(index: number, call: Extract<Open, { kind: 'call' }>): void {
    this.calls.delete(index);
    this.send('response.function_call_arguments.done', { item_id: call.id, output_index: call.index, name: call.name, arguments: call.args });
    this.send('response.output_item.done', { output_index: call.index, item: this.callItem(call, 'completed') });
  }

  private callItem(call: Extract<Open, { kind: 'call' }>, status: FunctionCallItem['status']): FunctionCallItem {
    return { type: 'function_call', id: call.id, call_id: call.callId, name: call.name, arguments: status === 'completed' ? call.args : '', status };
  }
}

/** One server-sent event with the event's type in its `event:` line, as OpenAI streams them. */
export function sseEvent(ev: ResponseStreamEvent): string {
  return `event: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`;
}
