import { describe, expect, it } from 'vitest';
import { parseCountTokensRequest, parseMessagesRequest } from '../producer-api/anthropic/requests.ts';

const ok = { model: 'llama3.1:8b', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
const refusal = (body: unknown, parse: (b: unknown) => unknown = parseMessagesRequest): string => {
  try {
    parse(body);
  } catch (err) {
    expect((err as { status: number }).status).toBe(400);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('Messages request -> chat job input', () => {
  it('maps max_tokens, sampling and stop_sequences to the job options, and the system prompt to the first message', () => {
    const job = parseMessagesRequest({
      ...ok,
      model: 'fake-small',
      system: [{ type: 'text', text: 'be ' }, { type: 'text', text: 'brief', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }, { role: 'assistant', content: 'c' }, { role: 'user', content: 'd' }],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ['END'],
      metadata: { user_id: null },
      stream: true,
    });
    expect(job).toEqual({
      model: 'fake-small:latest',
      stream: true,
      input: {
        messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'ab' }, { role: 'assistant', content: 'c' }, { role: 'user', content: 'd' }],
        options: { num_predict: 10, temperature: 0.5, top_p: 0.9, top_k: 40, stop: ['END'] },
      },
    });
  });

  it('leaves out an empty system prompt and absent options', () => {
    expect(parseMessagesRequest({ ...ok, system: '' }).input).toEqual({ messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 10 } });
  });

  const cases: [string, unknown, string | RegExp][] = [
    ['no max_tokens', { model: 'm', messages: ok.messages }, /^max_tokens: /],
    ['max_tokens past the job bound', { ...ok, max_tokens: 2_000_000 }, /^max_tokens: /],
    ['an unknown top-level field', { ...ok, frequency_penalty: 1 }, 'frequency_penalty: Extra inputs are not permitted'],
    ['an unknown field in a message', { ...ok, messages: [{ role: 'user', content: 'x', name: 'n' }] }, 'messages.0.name: Extra inputs are not permitted'],
    ['a system role in messages', { ...ok, messages: [{ role: 'system', content: 'x' }] }, /^messages\.0\.role: /],
    ['tools', { ...ok, tools: [{ name: 'f', input_schema: {} }] }, 'tools: tool use is not supported yet'],
    ['tool_choice auto', { ...ok, tool_choice: { type: 'auto' } }, "tool_choice: 'auto' is not supported yet (only 'none')"],
    ['thinking', { ...ok, thinking: { type: 'enabled', budget_tokens: 1024 } }, 'thinking: extended thinking is not supported yet'],
    ['an image block', { ...ok, messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] }, "messages.0.content.0: content blocks of type 'image' are not supported yet"],
    ['a tool_result block', { ...ok, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'x' }] }] }, "messages.0.content.0: content blocks of type 'tool_result' are not supported yet"],
    ['a document block in system', { ...ok, system: [{ type: 'document', source: {} }] }, "system.0: content blocks of type 'document' are not supported yet"],
    ['an unknown block type', { ...ok, messages: [{ role: 'user', content: [{ type: 'bogus' }] }] }, "messages.0.content.0: unknown content block type 'bogus'"],
    ['a text block without text', { ...ok, messages: [{ role: 'user', content: [{ type: 'text' }] }] }, /^messages\.0\.content\.0\.text: /],
    ['temperature over 1', { ...ok, temperature: 1.5 }, /^temperature: /],
    ['a body that is not an object', [ok], 'request body must be a JSON object'],
  ];
  it.each(cases)('refuses %s with a 400 naming it', (_name, body, message) => {
    expect(refusal(body)).toMatch(message);
  });

  it('accepts tool_choice none and thinking disabled as no tool use and no thinking', () => {
    expect(parseMessagesRequest({ ...ok, tool_choice: { type: 'none' }, thinking: { type: 'disabled' } }).input.messages).toHaveLength(1);
  });

  it('reads count_tokens bodies without max_tokens and refuses sampling fields there', () => {
    expect(parseCountTokensRequest({ model: 'm', system: 's', messages: ok.messages })).toEqual({ model: 'm:latest', input: { messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'hi' }] } });
    expect(refusal({ model: 'm', messages: ok.messages, max_tokens: 1 }, parseCountTokensRequest)).toBe('max_tokens: Extra inputs are not permitted');
  });
});
