/**
 * Streams generated text to the job's event stream without one Redis round trip per token:
 * at most one append is in flight; text produced meanwhile is coalesced into the next one.
 * `flush()` resolves once everything handed in has been written, so the final status event
 * always follows the last token.
 */
export class TokenSink {
  private pending = '';
  private inFlight: Promise<void> | null = null;
  private failed: unknown = null;

  constructor(private readonly append: (text: string) => Promise<void>) {}

  push(text: string): void {
    if (!text) return;
    this.pending += text;
    if (!this.inFlight) this.inFlight = this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const chunk = this.pending;
      this.pending = '';
      try {
        await this.append(chunk);
      } catch (err) {
        this.failed = err;
      }
    }
    this.inFlight = null;
  }

  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (this.failed) throw this.failed;
  }
}
