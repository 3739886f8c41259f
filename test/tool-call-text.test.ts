import { describe, expect, it } from 'vitest';
import type { DeltaEvent } from '../protocol/conversation.ts';
import { ToolCallTextParser } from '../protocol/tool-call-text.ts';

const ID = 'call_x';

/** Feeds `text` in pieces of `size` characters; returns all events and the parser. */
function feed(text: string, size: number): { events: DeltaEvent[]; parser: ToolCallTextParser } {
  const parser = new ToolCallTextParser({ index: 0, id: ID });
  const events: DeltaEvent[] = [];
  for (let i = 0; i < text.length; i += size) events.push(...parser.push(text.slice(i, i + size)));
  return { events, parser };
}

function argsOf(events: DeltaEvent[]): string {
  return events.flatMap((e) => (e.type === 'tool_call_delta' ? [e.arguments] : [])).join('');
}

describe('incremental reading of a forced tool call', () => {
  const text = '{"name": "get_weather", "arguments": {"city": "Pa\\"ris}", "days": [1, {"x": null}], "n": -1.5}}';

  it('emits start once the name is complete, argument pieces as they come, end when the object closes', () => {
    for (const size of [1, 2, 3, 7, text.length]) {
      const { events, parser } = feed(text, size);
      expect(events[0]).toEqual({ type: 'tool_call_start', index: 0, id: ID, name: 'get_weather' });
      expect(events.at(-1)).toEqual({ type: 'tool_call_end', index: 0 });
      expect(events.filter((e) => e.type === 'tool_call_start')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'tool_call_end')).toHaveLength(1);
      const args = argsOf(events);
      expect(JSON.parse(args)).toEqual({ city: 'Pa"ris}', days: [1, { x: null }], n: -1.5 });
      expect(parser.call()).toEqual({ id: ID, type: 'function', function: { name: 'get_weather', arguments: args } });
    }
  });

  it('streams arguments before the end: one character at a time gives many pieces', () => {
    const { events } = feed(text, 1);
    expect(events.filter((e) => e.type === 'tool_call_delta').length).toBeGreaterThan(10);
  });

  it('holds arguments generated before the name and sends them right after the start', () => {
    const { events, parser } = feed('{"arguments":{"id":7},"name":"lookup"}', 4);
    expect(events.map((e) => e.type)).toEqual(['tool_call_start', 'tool_call_delta', 'tool_call_end']);
    expect(argsOf(events)).toBe('{"id":7}');
    expect(parser.call()?.function.name).toBe('lookup');
  });

  it('reads a name with escapes and arguments that are not an object', () => {
    const { events, parser } = feed('{ "name" : "a\\u0062c" , "arguments" : 42 }', 1);
    expect(events[0]).toMatchObject({ type: 'tool_call_start', name: 'abc' });
    expect(parser.call()?.function.arguments).toBe('42');
  });

  it('gives no call for text cut short or not a call at all', () => {
    const cut = feed(text.slice(0, 50), 5);
    expect(cut.parser.done).toBe(false);
    expect(cut.parser.call()).toBeNull();
    expect(cut.events[0]?.type).toBe('tool_call_start');
    expect(cut.events.some((e) => e.type === 'tool_call_end')).toBe(false);
    expect(feed('hello', 1).parser.call()).toBeNull();
    expect(feed('{"name": 3, "arguments": {}}', 1).parser.call()).toBeNull();
    expect(feed('{"arguments": {}}', 1).parser.call()).toBeNull();
    expect(feed('{"name": "a"}', 1).parser.call()).toBeNull();
  });

  it('ignores what follows the closed object', () => {
    const { events, parser } = feed('{"name":"a","arguments":{}}\n\n trailing', 3);
    expect(events.at(-1)).toEqual({ type: 'tool_call_end', index: 0 });
    expect(parser.call()?.function.arguments).toBe('{}');
  });
});
