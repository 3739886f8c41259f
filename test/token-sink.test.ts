import { describe, expect, it } from 'vitest';
import { decodeDelta } from '../protocol/conversation.ts';
import { TokenSink, type SinkEventType } from '../worker/token-sink.ts';

/** An append that takes `delayMs` per write and records what was written, in order. */
function recorder(delayMs: number) {
  const written: Array<{ type: SinkEventType; data: string }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const append = async (type: SinkEventType, data: string) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, delayMs));
    written.push({ type, data });
    inFlight--;
  };
  return { written, append, maxInFlight: () => maxInFlight };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('token sink', () => {
  it('keeps the order of text and deltas, coalescing only neighbours of one kind, one append in flight', async () => {
    const r = recorder(5);
    const sink = new TokenSink(r.append);
    sink.push('a');
    await tick(); // the first write starts with 'a' alone; the rest piles up behind it
    sink.push('b');
    sink.pushDelta({ type: 'reasoning', text: 'th' });
    sink.pushDelta({ type: 'reasoning', text: 'ink' });
    sink.push('c');
    sink.pushDelta({ type: 'tool_call_start', index: 0, id: 'call_1', name: 'f' });
    sink.pushDelta({ type: 'tool_call_delta', index: 0, arguments: '{"x"' });
    sink.pushDelta({ type: 'tool_call_delta', index: 0, arguments: ':1}' });
    sink.pushDelta({ type: 'tool_call_delta', index: 1, arguments: '{}' });
    await new Promise((res) => setTimeout(res, 60));
    sink.pushDelta({ type: 'tool_call_end', index: 0 });
    sink.push('d');
    sink.push('e');
    const tail = await sink.settle();
    expect(tail).toBe('de');
    const shown = r.written.map((w) => (w.type === 'token' ? `T:${w.data}` : `D:${JSON.stringify(decodeDelta(w.data))}`));
    expect(shown).toEqual([
      'T:a',
      'T:b',
      'D:{"type":"reasoning","text":"think"}',
      'T:c',
      'D:{"type":"tool_call_start","index":0,"id":"call_1","name":"f"}',
      'D:{"type":"tool_call_delta","index":0,"arguments":"{\\"x\\":1}"}',
      'D:{"type":"tool_call_delta","index":1,"arguments":"{}"}',
      'D:{"type":"tool_call_end","index":0}',
    ]);
    expect(r.maxInFlight()).toBe(1);
  });

  it('hands back trailing text for the status change and writes nothing more after settling', async () => {
    const r = recorder(1);
    const sink = new TokenSink(r.append);
    sink.push('x');
    sink.push('y');
    expect(await sink.settle()).toBe('xy');
    sink.push('z');
    sink.pushDelta({ type: 'reasoning', text: 'late' });
    await new Promise((res) => setTimeout(res, 10));
    expect(r.written).toEqual([]);
  });

  it('writes a delta left at the end before settling, so nothing follows the status', async () => {
    const r = recorder(1);
    const sink = new TokenSink(r.append);
    sink.push('p');
    sink.pushDelta({ type: 'tool_call_end', index: 0 });
    expect(await sink.settle()).toBe('');
    expect(r.written.map((w) => w.type)).toEqual(['token', 'delta']);
  });

  it('keeps streaming after a failed append', async () => {
    let calls = 0;
    const written: string[] = [];
    const sink = new TokenSink(async (_type, data) => {
      if (calls++ === 0) throw new Error('redis down');
      written.push(data);
    });
    sink.push('lost');
    await new Promise((res) => setTimeout(res, 5));
    sink.push('kept');
    await new Promise((res) => setTimeout(res, 5));
    expect(await sink.settle()).toBe('');
    expect(written).toEqual(['kept']);
  });
});
