/** The pure tool helpers: which tool jobs are refused where, the call schema, parsing and history rendering. */
import { describe, expect, it } from 'vitest';
import { compileJsonSchema } from '../protocol/json-schema/index.ts';
import { inputSchema } from '../protocol/job.ts';
import { forcedCallSchema, forcedTools, parseToolCall, renderToolMessages, toolsRefusal, withToolsPrompt, type Tool } from '../protocol/tools.ts';

const a: Tool = { name: 'a', parameters: { type: 'object', properties: { x: { type: 'integer' } }, required: ['x'], additionalProperties: false } };
const b: Tool = { name: 'b' };

describe('tools in the job protocol', () => {
  it('forces a call only for "required" or a named tool', () => {
    expect(forcedTools({ tools: [a, b] })).toBeNull();
    expect(forcedTools({ tools: [a, b], tool_choice: 'none' })).toBeNull();
    expect(forcedTools({ tools: [a, b], tool_choice: 'auto' })).toBeNull();
    expect(forcedTools({ tools: [a, b], tool_choice: 'required' })).toEqual([a, b]);
    expect(forcedTools({ tools: [a, b], tool_choice: { name: 'b' } })).toEqual([b]);
  });

  it('builds a call schema the compiler accepts: a const name per tool, an anyOf for several', () => {
    const one = forcedCallSchema([a]);
    expect(one).toMatchObject({ properties: { name: { const: 'a' }, arguments: a.parameters }, required: ['name', 'arguments'], additionalProperties: false });
    const two = forcedCallSchema([a, b]) as { anyOf: unknown[] };
    expect(two.anyOf).toHaveLength(2);
    expect(compileJsonSchema(one).ok).toBe(true);
    expect(compileJsonSchema(two).ok).toBe(true);
  });

  it('refuses what cannot be served, naming the parameter', () => {
    const forced = { tools: [a], tool_choice: 'required' as const };
    expect(toolsRefusal('llama-cpp', forced)).toBeNull();
    expect(toolsRefusal('ollama', { tools: [a], tool_choice: 'none' })).toBeNull();
    expect(toolsRefusal('ollama', forced)).toBeNull();
    expect(toolsRefusal('ollama', { tools: [a] })).toBeNull();
    expect(toolsRefusal('fake', forced)).toMatchObject({ param: 'tools', message: expect.stringMatching(/fake engine/) });
    expect(toolsRefusal('llama-cpp', { tools: [a] })).toBeNull();
    expect(toolsRefusal('llama-cpp', { tools: [a], tool_choice: 'auto' })).toBeNull();
    expect(toolsRefusal('llama-cpp', { tools: [a], format: 'json' })).toMatchObject({ param: 'tools', message: expect.stringMatching(/response format on the llama-cpp engine/) });
    expect(toolsRefusal('llama-cpp', { tools: [a], top_logprobs: 2 })).toMatchObject({ param: 'tools', message: expect.stringMatching(/logprobs on the llama-cpp engine/) });
    expect(toolsRefusal('ollama', { tools: [a], format: 'json', logprobs: true })).toBeNull();
    expect(toolsRefusal('fake', { tools: [a] })).toMatchObject({ param: 'tool_choice', message: expect.stringMatching(/auto.*fake engine/) });
    expect(toolsRefusal('llama-cpp', { tools: [a], tool_choice: { name: 'zz' } })).toMatchObject({ param: 'tool_choice' });
    expect(toolsRefusal('llama-cpp', { tool_choice: 'required' })).toMatchObject({ param: 'tool_choice' });
    expect(toolsRefusal('llama-cpp', { tools: [a, a], tool_choice: 'required' })).toMatchObject({ param: 'tools', message: expect.stringMatching(/twice/) });
    expect(toolsRefusal('llama-cpp', { ...forced, format: 'json' })).toMatchObject({ param: 'tools' });
    const bad = { name: 'c', parameters: { type: 'object', not: { required: ['x'] } } };
    expect(toolsRefusal('llama-cpp', { tools: [bad], tool_choice: 'required' })).toMatchObject({ param: 'tools', message: expect.stringMatching(/keyword "not"/) });
  });

  it('parses a generated call into an OpenAI-like tool call, refusing text that is not one', () => {
    const c = parseToolCall('{"name":"a","arguments":{ "x": 1 }}');
    expect(c).toMatchObject({ type: 'function', function: { name: 'a', arguments: '{"x":1}' } });
    expect(c.id).toMatch(/^call_[A-Za-z0-9_-]+$/);
    expect(() => parseToolCall('{"name":"a","argu')).toThrow();
    expect(() => parseToolCall('{"name":"a"}')).toThrow();
  });

  it('renders tool turns of the history as text and validates them in the job input', () => {
    const messages = [
      { role: 'user' as const, content: 'hi' },
      { role: 'assistant' as const, content: '', tool_calls: [{ id: 'call_1', type: 'function' as const, function: { name: 'a', arguments: '{"x":1}' } }] },
      { role: 'tool' as const, content: '42', tool_call_id: 'call_1' },
    ];
    expect(inputSchema.safeParse({ messages, tools: [a], tool_choice: { name: 'a' } }).success).toBe(true);
    expect(renderToolMessages(messages)).toEqual([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: '[tool call call_1] a({"x":1})' },
      { role: 'tool', content: '[tool result call_1] 42' },
    ]);
  });

  it('tells the model the tools of a forced call in a system message', () => {
    const told = withToolsPrompt([{ role: 'user' as const, content: 'hi' }], [{ ...a, description: 'adds x' }, b]);
    expect(told).toHaveLength(2);
    expect(told[0]!.role).toBe('system');
    expect(told[0]!.content).toContain('- a: adds x');
    expect(told[0]!.content).toContain(JSON.stringify(a.parameters));
    const merged = withToolsPrompt([{ role: 'system' as const, content: 'be brief' }, { role: 'user' as const, content: 'hi' }], [a]);
    expect(merged).toHaveLength(2);
    expect(merged[0]!.content).toMatch(/^be brief\n\nCall this tool/);
  });
});
