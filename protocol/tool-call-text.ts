/**
 * Reads a forced tool call's generated text, `{"name": <string>, "arguments": <JSON>}` as the
 * grammar holds it (keys in either order, whitespace between tokens), as it arrives, and turns
 * it into canonical events: `tool_call_start` once the name is complete, `tool_call_delta` with
 * each piece of the arguments JSON as generated, `tool_call_end` when the object closes.
 *
 * Invariant: the streamed argument pieces add up to exactly the `arguments` of `call()`, the
 * raw JSON text the model generated (not re-serialised), so a client that joins the pieces has
 * the same string as one that reads the final output.
 */
import type { DeltaEvent } from './conversation.ts';
import type { ToolCall } from './tools.ts';

type State = 'open' | 'key-or-end' | 'key' | 'colon' | 'value-start' | 'value' | 'after-value' | 'done' | 'invalid';

const WS = new Set([' ', '\t', '\n', '\r']);

/** Scans one JSON value character by character and tells when it is complete. */
class ValueScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private primitive = false;
  private started = false;

  /**
   * Feeds one character; `taken`: whether it belongs to the value, `complete`: whether the value
   * ended with it (or, for a number or literal, just before it).
   */
  feed(ch: string): { taken: boolean; complete: boolean } {
    if (!this.started) {
      this.started = true;
      if (ch === '"') this.inString = true;
      else if (ch === '{' || ch === '[') this.depth = 1;
      else this.primitive = true;
      return { taken: true, complete: false };
    }
    if (this.primitive) {
      if (WS.has(ch) || ch === ',' || ch === '}' || ch === ']') return { taken: false, complete: true };
      return { taken: true, complete: false };
    }
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (ch === '\\') this.escaped = true;
      else if (ch === '"') {
        this.inString = false;
        return { taken: true, complete: this.depth === 0 };
      }
      return { taken: true, complete: false };
    }
    if (ch === '"') this.inString = true;
    else if (ch === '{' || ch === '[') this.depth++;
    else if (ch === '}' || ch === ']') this.depth--;
    return { taken: true, complete: this.depth === 0 };
  }
}

export class ToolCallTextParser {
  private state: State = 'open';
  private key = '';
  private keyRaw = '';
  private keyEscaped = false;
  private scanner: ValueScanner | null = null;
  private nameRaw = '';
  private name: string | null = null;
  private args = '';
  /** Argument text not yet sent as a delta (held until the name is known). */
  private unsent = '';
  private started = false;

  private readonly index: number;
  private readonly id: string;
  constructor(o: { index: number; id: string }) {
    this.index = o.index;
    this.id = o.id;
  }

  /** Feeds generated text; returns the events it completes, in order. */
  push(text: string): DeltaEvent[] {
    const out: DeltaEvent[] = [];
    for (const ch of text) this.step(ch, out);
    this.flushArgs(out);
    return out;
  }

  /** Whether the call's object has closed. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** The complete call; null while the text is not one (cut short, or not a call at all). */
  call(): ToolCall | null {
    if (this.state !== 'done' || this.name === null || this.args === '') return null;
    return { id: this.id, type: 'function', function: { name: this.name, arguments: this.args } };
  }

  private step(ch: string, out: DeltaEvent[]): void {
    switch (this.state) {
      case 'open':
        if (ch === '{') this.state = 'key-or-end';
        else if (!WS.has(ch)) this.state = 'invalid';
        return;
      case 'key-or-end':
        if (ch === '"') {
          this.state = 'key';
          this.keyRaw = '';
          this.keyEscaped = false;
        } else if (ch === '}') this.close(out);
        else if (!WS.has(ch)) this.state = 'invalid';
        return;
      case 'key':
        if (ch === '"' && !this.keyEscaped) {
          this.key = JSON.parse(`"${this.keyRaw}"`) as string;
          this.state = 'colon';
          return;
        }
        this.keyEscaped = !this.keyEscaped && ch === '\\';
        this.keyRaw += ch;
        return;
      case 'colon':
        if (ch === ':') this.state = 'value-start';
        else if (!WS.has(ch)) this.state = 'invalid';
        return;
      case 'value-start':
        if (WS.has(ch)) return;
        this.scanner = new ValueScanner();
        this.state = 'value';
        this.value(ch, out);
        return;
      case 'value':
        this.value(ch, out);
        return;
      case 'after-value':
        if (ch === ',') this.state = 'key-or-end';
        else if (ch === '}') this.close(out);
        else if (!WS.has(ch)) this.state = 'invalid';
        return;
      default:
        return; // done or invalid: the rest is ignored
    }
  }

  private value(ch: string, out: DeltaEvent[]): void {
    const { taken, complete } = this.scanner!.feed(ch);
    if (taken) {
      if (this.key === 'arguments') {
        this.args += ch;
        this.unsent += ch;
      } else if (this.key === 'name') this.nameRaw += ch;
    }
    if (!complete) return;
    this.state = 'after-value';
    if (this.key === 'name') this.nameKnown(out);
    if (!taken) this.step(ch, out);
  }

  private nameKnown(out: DeltaEvent[]): void {
    let name: unknown;
    try {
      name = JSON.parse(this.nameRaw);
    } catch {
      name = null;
    }
    if (typeof name !== 'string' || name === '') {
      this.state = 'invalid';
      return;
    }
    this.name = name;
    this.started = true;
    out.push({ type: 'tool_call_start', index: this.index, id: this.id, name });
    this.flushArgs(out);
  }

  private flushArgs(out: DeltaEvent[]): void {
    if (!this.started || this.unsent === '') return;
    out.push({ type: 'tool_call_delta', index: this.index, arguments: this.unsent });
    this.unsent = '';
  }

  private close(out: DeltaEvent[]): void {
    if (!this.started || this.args === '') {
      this.state = 'invalid';
      return;
    }
    this.flushArgs(out);
    this.state = 'done';
    out.push({ type: 'tool_call_end', index: this.index });
  }
}
