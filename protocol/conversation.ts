/**
 * The canonical event stream of a generation, wire-neutral: every API family (the job API,
 * Ollama's routes, OpenAI chat and completions, Responses, Messages) renders these and knows
 * no other family's format.
 *
 * On a job's event stream, visible text travels as `token` events (their data is the text, as
 * always); everything else travels as `delta` events whose data is one `ConversationEvent` as
 * JSON (`encodeDelta`). A tool call is `tool_call_start` (index, id, name), any number of
 * `tool_call_delta` pieces of its arguments JSON, then `tool_call_end`.
 *
 * The final job output is authoritative: a worker that did not stream a call's pieces (an
 * older worker, or an engine that gives calls only at the end) still ends with the calls in
 * `output.message.tool_calls`, and `ConversationStream.finish` emits whatever the stream lacked.
 */
import type { JobOutput } from './job.ts';
import type { ToolCall } from './tools.ts';

export type ConversationEvent =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'tool_call_start'; index: number; id: string; name: string }
  | { type: 'tool_call_delta'; index: number; arguments: string }
  | { type: 'tool_call_end'; index: number };

/** Non-text events as stored in a `delta` job event. */
export type DeltaEvent = Exclude<ConversationEvent, { type: 'text' }>;

export function encodeDelta(ev: DeltaEvent): string {
  return JSON.stringify(ev);
}

/** The event a `delta` job event holds; null when the data is not one (a newer worker's kind). */
export function decodeDelta(data: string): DeltaEvent | null {
  try {
    const v = JSON.parse(data) as { type?: unknown; index?: unknown };
    switch (v.type) {
      case 'reasoning':
        return typeof (v as { text?: unknown }).text === 'string' ? (v as DeltaEvent) : null;
      case 'tool_call_start':
      case 'tool_call_delta':
      case 'tool_call_end':
        return typeof v.index === 'number' ? (v as DeltaEvent) : null;
      default:
        return null;
    }
  } catch {
    return null;
  }
}

/** Pieces a whole call is cut into when it was not streamed (what a client sees as deltas). */
const PIECE_CHARS = 16;

/** The events that stream a whole tool call at `index`. */
export function callEvents(call: ToolCall, index: number, pieceChars = PIECE_CHARS): ConversationEvent[] {
  const out: ConversationEvent[] = [{ type: 'tool_call_start', index, id: call.id, name: call.function.name }];
  const args = call.function.arguments;
  for (let i = 0; i < args.length; i += pieceChars) out.push({ type: 'tool_call_delta', index, arguments: args.slice(i, i + pieceChars) });
  out.push({ type: 'tool_call_end', index });
  return out;
}

export interface ConversationStreamOptions {
  /**
   * The job forces a tool call. A worker that streams the call as `delta` events sends no text;
   * one that does not streams the call's raw JSON as text, which is then held back (the call
   * comes from the output at the end).
   */
  forcedToolCall?: boolean;
}

/**
 * Turns a job's stored events into canonical events, once each and in order, and completes
 * them from the final output. One per follow; not shared between clients.
 */
export class ConversationStream {
  private readonly forced: boolean;
  private readonly startedCalls = new Set<number>();
  private readonly endedCalls = new Set<number>();
  private sawDelta = false;
  private text = '';
  private reasoning = '';

  constructor(o: ConversationStreamOptions = {}) {
    this.forced = o.forcedToolCall ?? false;
  }

  /** Text streamed so far (what the client was sent as text). */
  get streamedText(): string {
    return this.text;
  }

  get streamedReasoning(): string {
    return this.reasoning;
  }

  /** A job event (`token` or `delta`; others give nothing). */
  fromJobEvent(ev: { type: string; data: string }): ConversationEvent[] {
    if (ev.type === 'token') {
      if (this.forced || ev.data === '') return [];
      this.text += ev.data;
      return [{ type: 'text', text: ev.data }];
    }
    if (ev.type !== 'delta') return [];
    const d = decodeDelta(ev.data);
    if (!d) return [];
    this.sawDelta = true;
    if (d.type === 'reasoning') this.reasoning += d.text;
    else if (d.type === 'tool_call_start') this.startedCalls.add(d.index);
    else if (d.type === 'tool_call_end') this.endedCalls.add(d.index);
    return [d];
  }

  /**
   * What the stream lacked against the job's final output: the calls not streamed (whole),
   * ends of calls streamed without one, and text the output holds beyond what was streamed.
   */
  finish(output: JobOutput | null): ConversationEvent[] {
    const out: ConversationEvent[] = [];
    const calls = output?.message?.tool_calls ?? [];
    const final = output?.message?.content ?? output?.response ?? '';
    if (!this.forced && final.startsWith(this.text) && final.length > this.text.length) {
      const rest = final.slice(this.text.length);
      this.text = final;
      out.push({ type: 'text', text: rest });
    }
    calls.forEach((call, index) => {
      if (!this.startedCalls.has(index)) out.push(...callEvents(call, index));
      else if (!this.endedCalls.has(index)) out.push({ type: 'tool_call_end', index });
      this.startedCalls.add(index);
      this.endedCalls.add(index);
    });
    return out;
  }

  /** Whether any `delta` event came in (the worker streams canonical events). */
  get streamedDeltas(): boolean {
    return this.sawDelta;
  }
}
