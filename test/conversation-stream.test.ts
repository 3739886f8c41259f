import { describe, expect, it } from 'vitest';
import { ConversationStream, callEvents, decodeDelta, encodeDelta, type ConversationEvent } from '../protocol/conversation.ts';
import type { JobOutput } from '../protocol/job.ts';

const call = { id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } };

describe('canonical conversation stream', () => {
  it('passes text and deltas through once, in order', () => {
    const s = new ConversationStream();
    const out: ConversationEvent[] = [];
    out.push(...s.fromJobEvent({ type: 'token', data: 'Hel' }));
    out.push(...s.fromJobEvent({ type: 'delta', data: encodeDelta({ type: 'reasoning', text: 'hmm' }) }));
    out.push(...s.fromJobEvent({ type: 'token', data: 'lo' }));
    out.push(...s.fromJobEvent({ type: 'status', data: '{"status":"running"}' }));
    expect(out).toEqual([
      { type: 'text', text: 'Hel' },
      { type: 'reasoning', text: 'hmm' },
      { type: 'text', text: 'lo' },
    ]);
    expect(s.finish({ message: { role: 'assistant', content: 'Hello' } })).toEqual([]);
    expect(s.streamedText).toBe('Hello');
    expect(s.streamedReasoning).toBe('hmm');
  });

  it('completes text the stream lacked from the final output', () => {
    const s = new ConversationStream();
    s.fromJobEvent({ type: 'token', data: 'ab' });
    expect(s.finish({ response: 'abcd' })).toEqual([{ type: 'text', text: 'cd' }]);
  });

  it('holds back a forced call streamed as raw text and emits the call from the output', () => {
    const s = new ConversationStream({ forcedToolCall: true });
    expect(s.fromJobEvent({ type: 'token', data: '{"name":"get_weather"' })).toEqual([]);
    const output: JobOutput = { message: { role: 'assistant', content: '', tool_calls: [call] }, done_reason: 'tool_calls' };
    const events = s.finish(output);
    expect(events[0]).toEqual({ type: 'tool_call_start', index: 0, id: 'call_1', name: 'get_weather' });
    expect(events.at(-1)).toEqual({ type: 'tool_call_end', index: 0 });
    const args = events.flatMap((e) => (e.type === 'tool_call_delta' ? [e.arguments] : [])).join('');
    expect(args).toBe(call.function.arguments);
  });

  it('does not repeat a call the worker streamed, and closes one left open', () => {
    const s = new ConversationStream({ forcedToolCall: true });
    for (const ev of callEvents(call, 0).slice(0, -1)) s.fromJobEvent({ type: 'delta', data: encodeDelta(ev as never) });
    expect(s.streamedDeltas).toBe(true);
    expect(s.finish({ message: { role: 'assistant', content: '', tool_calls: [call] } })).toEqual([{ type: 'tool_call_end', index: 0 }]);
  });

  it('ignores delta kinds it does not know', () => {
    expect(decodeDelta('{"type":"citation","index":0}')).toBeNull();
    expect(decodeDelta('not json')).toBeNull();
    expect(decodeDelta('{"type":"tool_call_delta"}')).toBeNull();
  });
});
