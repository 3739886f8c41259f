/**
 * Streams generated text to the job's event stream without one Redis round trip per token:
 * writes start on the next macrotask, at most one append is in flight, and text produced
 * meanwhile is coalesced into the next one. At the end, `settle()` hands back what was not
 * written yet so it rides along with the final status change (one round trip, in order).
 */
export class TokenSink {
  private pending = '';
  private inFlight: Promise<void> | null = null;
  private scheduled: NodeJS.Immediate | null = null;
  private settled = false;

  private readonly append: (text: string) => Promise<void>;
  constructor(append: (text: string) => Promise<void>) {
    this.append = append;
  }

  push(text: string): void {
    if (!text || this.settled) return;
    this.pending += text;
    if (!this.inFlight && !this.scheduled) this.scheduled = setImmediate(() => this.start());
  }

  private start(): void {
    this.scheduled = null;
    if (!this.inFlight && this.pending) this.inFlight = this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.settled) {
      const chunk = this.pending;
      this.pending = '';
      // A failed append loses only streamed tokens; the final output is written with the status.
      await this.append(chunk).catch(() => undefined);
    }
    this.inFlight = null;
  }

  /** Stops streaming, waits for the append in flight, and returns the text not yet written. */
  async settle(): Promise<string> {
    this.settled = true;
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    while (this.inFlight) await this.inFlight;
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}
