/**
 * Canonical events (protocol/conversation.ts) as the Messages stream's content blocks: each run
 * of reasoning is a `thinking` block (`thinking_delta`), each run of text a `text` block
 * (`text_delta`), each tool call a `tool_use` block whose arguments come as `input_json_delta`
 * pieces; a block starts with `content_block_start` and ends with `content_block_stop` before
 * the next one starts. Blocks are numbered in the order they start.
 */
import type { ConversationEvent } from '../../protocol/conversation.ts';

type Kind = 'thinking' | 'text' | 'tool_use';

export class MessageBlocks {
  private readonly send: (ev: { type: string }) => void;
  private next = 0;
  private open: { kind: Kind; index: number; call?: number } | null = null;
  private sawText = false;
  private sawCall = false;

  constructor(send: (ev: { type: string }) => void) {
    this.send = send;
  }

  /** One canonical event, as zero or more block events. */
  push(ev: ConversationEvent): void {
    switch (ev.type) {
      case 'reasoning':
        if (ev.text === '') return;
        this.ensure('thinking', { type: 'thinking', thinking: '', signature: '' });
        this.delta({ type: 'thinking_delta', thinking: ev.text });
        return;
      case 'text':
        if (ev.text === '') return;
        this.sawText = true;
        this.ensure('text', { type: 'text', text: '' });
        this.delta({ type: 'text_delta', text: ev.text });
        return;
      case 'tool_call_start':
        this.close();
        this.sawCall = true;
        this.start('tool_use', { type: 'tool_use', id: ev.id, name: ev.name, input: {} }, ev.index);
        return;
      case 'tool_call_delta':
        if (this.open?.kind === 'tool_use' && this.open.call === ev.index && ev.arguments !== '') this.delta({ type: 'input_json_delta', partial_json: ev.arguments });
        return;
      case 'tool_call_end':
        if (this.open?.kind === 'tool_use' && this.open.call === ev.index) this.close();
    }
  }

  /** Closes the last block; an answer with neither text nor calls still gets its (empty) text block. */
  finish(): void {
    this.close();
    if (!this.sawText && !this.sawCall) {
      this.start('text', { type: 'text', text: '' });
      this.close();
    }
  }

  private ensure(kind: Kind, block: object): void {
    if (this.open?.kind === kind) return;
    this.close();
    this.start(kind, block);
  }

  private start(kind: Kind, block: object, call?: number): void {
    this.open = { kind, index: this.next++, ...(call !== undefined ? { call } : {}) };
    this.send({ type: 'content_block_start', index: this.open.index, content_block: block } as { type: string });
  }

  private delta(delta: object): void {
    this.send({ type: 'content_block_delta', index: this.open!.index, delta } as { type: string });
  }

  private close(): void {
    if (!this.open) return;
    this.send({ type: 'content_block_stop', index: this.open.index } as { type: string });
    this.open = null;
  }
}
