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
    ['a tool without input_schema', { ...ok, tools: [{ name: 'f' }] }, /^tools\.0\.input_schema: /],
    ['a tool name with a space', { ...ok, tools: [{ name: 'f g', input_schema: { type: 'object' } }] }, /^tools\.0\.name: /],
    ['a server tool', { ...ok, tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, "tools.0: the server tool 'web_search_20250305' (web_search) cannot be run by the fabric; send custom tools with an input_schema"],
    ['tool_choice auto without tools', { ...ok, tool_choice: { type: 'auto' } }, "tool_choice: 'auto' needs tools"],
    ['an unknown tool_choice', { ...ok, tool_choice: { type: 'sometimes' } }, /^tool_choice\.type: /],
    ['thinking without a budget', { ...ok, thinking: { type: 'enabled' } }, /^thinking\.budget_tokens: /],
    ['a thinking budget not under max_tokens', { ...ok, thinking: { type: 'enabled', budget_tokens: 10 } }, 'thinking.budget_tokens: must be less than max_tokens'],
    ['an image by URL', { ...ok, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] }] }, "messages.0.content.0.source.type: image sources of type 'url' are not supported; send the image as base64"],
    ['an image that is not base64', { ...ok, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'no way!' } }] }] }, /^messages\.0\.content\.0\.source\.data: /],
    ['an image of another media type', { ...ok, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/tiff', data: 'AA==' } }] }] }, /^messages\.0\.content\.0\.source\.media_type: /],
    ['a tool_result in an assistant turn', { ...ok, messages: [{ role: 'assistant', content: [{ type: 'tool_result', tool_use_id: 'x' }] }] }, 'messages.0.content.0: tool_result blocks belong in user turns'],
    ['a tool_use in a user turn', { ...ok, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 'x', name: 'f', input: {} }] }] }, 'messages.0.content.0: tool_use blocks belong in assistant turns'],
    ['a tool_result without tool_use_id', { ...ok, messages: [{ role: 'user', content: [{ type: 'tool_result' }] }] }, /^messages\.0\.content\.0\.tool_use_id: /],
    ['a document block in system', { ...ok, system: [{ type: 'document', source: {} }] }, "system.0: content blocks of type 'document' are not supported"],
    ['an image in system', { ...ok, system: [{ type: 'image', source: {} }] }, "system.0: unknown content block type 'image'"],
    ['MCP servers', { ...ok, mcp_servers: [{ type: 'url', url: 'https://x', name: 'x' }] }, 'mcp_servers: MCP servers are not supported'],
    ['an unknown block type', { ...ok, messages: [{ role: 'user', content: [{ type: 'bogus' }] }] }, "messages.0.content.0: unknown content block type 'bogus'"],
    ['a text block without text', { ...ok, messages: [{ role: 'user', content: [{ type: 'text' }] }] }, /^messages\.0\.content\.0\.text: /],
    ['temperature over 1', { ...ok, temperature: 1.5 }, /^temperature: /],
    ['a body that is not an object', [ok], 'request body must be a JSON object'],
  ];
  it.each(cases)('refuses %s with a 400 naming it', (_name, body, message) => {
    expect(refusal(body)).toMatch(message);
  });

  it('accepts tool_choice none and thinking disabled as no tool use and no thinking', () => {
    expect(parseMessagesRequest({ ...ok, tool_choice: { type: 'none' }, thinking: { type: 'disabled' } }).input).toEqual({ messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 10 } });
  });

  const weather = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
  const tool = { name: 'get_weather', description: 'Weather', input_schema: weather };
  it.each([
    [{ type: 'auto' }, { tool_choice: 'auto' }],
    [{ type: 'any' }, { tool_choice: 'required' }],
    [{ type: 'tool', name: 'get_weather' }, { tool_choice: { name: 'get_weather' } }],
    [{ type: 'none' }, { tool_choice: 'none' }],
    [{ type: 'any', disable_parallel_tool_use: true }, { tool_choice: 'required', parallel_tool_calls: false }],
  ])('maps tool_choice %j with custom tools onto the job', (choice, fields) => {
    const input = parseMessagesRequest({ ...ok, tools: [tool], tool_choice: choice }).input;
    expect(input).toEqual({ messages: ok.messages, options: { num_predict: 10 }, tools: [{ name: 'get_weather', description: 'Weather', parameters: weather }], ...fields });
  });

  it('maps thinking enabled to think, keeping tools without a choice as the default (auto)', () => {
    const input = parseMessagesRequest({ ...ok, max_tokens: 2048, tools: [{ type: 'custom', name: 'f', input_schema: { type: 'object' } }], thinking: { type: 'enabled', budget_tokens: 1024 } }).input;
    expect(input).toMatchObject({ think: true, tools: [{ name: 'f', parameters: { type: 'object' } }] });
    expect(input.tool_choice).toBeUndefined();
  });

  it('turns tool_use, tool_result, images and thinking blocks into the chat history', () => {
    const png = Buffer.from('png').toString('base64');
    const input = parseMessagesRequest({
      ...ok,
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'look: ' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } }] },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'calling' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '11C' }] }, { type: 'tool_result', tool_use_id: 'toolu_2', content: 'boom', is_error: true }, { type: 'text', text: 'and?' }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_3', content: 'only' }] },
      ],
    }).input;
    expect(input.messages).toEqual([
      { role: 'user', content: 'look: ', images: [png] },
      { role: 'assistant', content: 'calling', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', content: '11C', tool_call_id: 'toolu_1' },
      { role: 'tool', content: '[error] boom', tool_call_id: 'toolu_2' },
      { role: 'user', content: 'and?' },
      { role: 'tool', content: 'only', tool_call_id: 'toolu_3' },
    ]);
  });

  it('reads count_tokens bodies without max_tokens and refuses sampling fields there', () => {
    expect(parseCountTokensRequest({ model: 'm', system: 's', messages: ok.messages })).toEqual({ model: 'm:latest', input: { messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'hi' }] } });
    expect(refusal({ model: 'm', messages: ok.messages, max_tokens: 1 }, parseCountTokensRequest)).toBe('max_tokens: Extra inputs are not permitted');
  });
});
