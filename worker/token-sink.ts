/**
 * Streams a generation to the job's event stream without one Redis round trip per token:
 * writes start on the next macrotask, at most one append is in flight, and what is produced
 * meanwhile is coalesced into the next write. Text goes out as `token` events, everything else
 * (reasoning, tool-call pieces) as `delta` events holding one canonical event each; the order
 * in which the engine produced text and deltas is the order they are written.
 *
 * Coalescing merges only neighbours of one kind: consecutive text, consecutive reasoning, and
 * consecutive argument pieces of one call. At the end, `settle()` writes what is pending up to
 * the last delta and hands back the text after it, so that text rides along with the final
 * status change (one round trip, in order).
 */
import { encodeDelta, type DeltaEvent } from '../protocol/conversation.ts';

export type SinkEventType = 'token' | 'delta';

type Pending = { type: 'token'; text: string } | { type: 'delta'; ev: DeltaEvent };

export class TokenSink {
  private pending: Pending[] = [];
  private inFlight: Promise<void> | null = null;
  private scheduled: NodeJS.Immediate | null = null;
  private settled = false;

  private readonly append: (type: SinkEventType, data: string) => Promise<void>;
  constructor(append: (type: SinkEventType, data: string) => Promise<void>) {
    this.append = append;
  }

  /** Visible text. */
  push(text: string): void {
    if (!text || this.settled) return;
    const last = this.pending.at(-1);
    if (last?.type === 'token') last.text += text;
    else this.pending.push({ type: 'token', text });
    this.schedule();
  }

  /** A non-text event. */
  pushDelta(ev: DeltaEvent): void {
    if (this.settled) return;
    const last = this.pending.at(-1);
    const merged = last?.type === 'delta' ? mergeDeltas(last.ev, ev) : null;
    if (last?.type === 'delta' && merged) last.ev = merged;
    else this.pending.push({ type: 'delta', ev });
    this.schedule();
  }

  private schedule(): void {
    if (!this.inFlight && !this.scheduled) this.scheduled = setImmediate(() => this.start());
  }

  private start(): void {
    this.scheduled = null;
    if (!this.inFlight && this.pending.length > 0) this.inFlight = this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 && !this.settled) {
      const batch = this.pending;
      this.pending = [];
      await this.write(batch);
    }
    this.inFlight = null;
  }

  /** One append after another: each waits for the previous, so the stream keeps their order. */
  private async write(batch: readonly Pending[]): Promise<void> {
    for (const item of batch) {
      // A failed append loses only streamed events; the final output is written with the status.
      await this.append(item.type, item.type === 'token' ? item.text : encodeDelta(item.ev)).catch(() => undefined);
    }
  }

  /**
   * Stops streaming, waits for the append in flight, writes what is pending up to the last
   * delta, and returns the text after it (not written yet: it goes with the status change).
   */
  async settle(): Promise<string> {
    this.settled = true;
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    while (this.inFlight) await this.inFlight;
    const rest = this.pending;
    this.pending = [];
    const last = rest.at(-1);
    const tail = last?.type === 'token' ? last.text : '';
    await this.write(last?.type === 'token' ? rest.slice(0, -1) : rest);
    return tail;
  }
}

/** `b` folded into `a` when both are one piece of a longer run; null when they stay apart. */
function mergeDeltas(a: DeltaEvent, b: DeltaEvent): DeltaEvent | null {
  if (a.type === 'reasoning' && b.type === 'reasoning') return { type: 'reasoning', text: a.text + b.text };
  if (a.type === 'tool_call_delta' && b.type === 'tool_call_delta' && a.index === b.index) {
    return { type: 'tool_call_delta', index: a.index, arguments: a.arguments + b.arguments };
  }
  return null;
}
