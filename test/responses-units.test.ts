/**
 * The Responses adapter's pure parts, without Redis or an engine: the request parser's mapping
 * and refusals, the items' mapping to chat messages, output items from a job's output, and the
 * event writer's order, numbering and resumption.
 */
import { describe, expect, it } from 'vitest';
import type { ConversationEvent } from '../protocol/conversation.ts';
import type { JobOutput } from '../protocol/job.ts';
import { OpenAiError } from '../producer-api/openai/errors.ts';
import { ResponseEventWriter, type ResponseStreamEvent } from '../producer-api/responses/events.ts';
import { itemsToMessages, type ConversationItem } from '../producer-api/responses/items.ts';
import { outputItems, responseObject, type ResponseRecord } from '../producer-api/responses/render.ts';
import { jobInput, parseResponsesRequest } from '../producer-api/responses/requests.ts';

function refusal(body: unknown): OpenAiError {
  try {
    parseResponsesRequest(body);
  } catch (err) {
    expect(err).toBeInstanceOf(OpenAiError);
    return err as OpenAiError;
  }
  throw new Error('not refused');
}

describe('Responses request parsing', () => {
  it('maps fields onto the chat job input', () => {
    const req = parseResponsesRequest({
      model: 'demo-chat',
      instructions: 'sys',
      input: 'hi',
      max_output_tokens: 9,
      temperature: 0.3,
      top_p: 0.9,
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }],
      tool_choice: { type: 'function', name: 'f' },
      parallel_tool_calls: false,
      reasoning: { effort: 'minimal' },
    });
    expect(req.forced).toBe(true);
    expect(jobInput(req, [])).toEqual({
      messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'hi' }],
      options: { num_predict: 9, temperature: 0.3, top_p: 0.9 },
      tools: [{ name: 'f', parameters: { type: 'object' } }],
      tool_choice: { name: 'f' },
      parallel_tool_calls: false,
      think: 'low',
    });
    expect(req.params).toMatchObject({ store: true, background: false, tool_choice: { type: 'function', name: 'f' }, text: { format: { type: 'text' } } });
  });

  it('refuses a function_call_output that answers no call of the input or the previous response', () => {
    const req = parseResponsesRequest({ model: 'm', input: [{ type: 'function_call_output', call_id: 'call_x', output: '1' }] });
    let err: OpenAiError | undefined;
    try {
      jobInput(req, []);
    } catch (e) {
      err = e as OpenAiError;
    }
    expect(err).toBeInstanceOf(OpenAiError);
    expect(err!.status).toBe(400);
    expect(err!.param).toBe('input.0.call_id');
    expect(err!.message).toMatch(/No tool call found for function call output with call_id call_x/);
    const history: ConversationItem[] = [{ type: 'function_call', id: 'fc_1', call_id: 'call_x', name: 'f', arguments: '{}', status: 'completed' }];
    expect(jobInput(req, history).messages?.at(-1)).toEqual({ role: 'tool', content: '1', tool_call_id: 'call_x' });
  });

  it('asks the job for log probabilities when include names them or top_logprobs counts alternatives', () => {
    expect(parseResponsesRequest({ model: 'm', input: 'x' }).base).not.toHaveProperty('logprobs');
    expect(parseResponsesRequest({ model: 'm', input: 'x', include: ['message.output_text.logprobs'] }).base).toMatchObject({ logprobs: true });
    expect(parseResponsesRequest({ model: 'm', input: 'x', top_logprobs: 3 }).base).toMatchObject({ logprobs: true, top_logprobs: 3 });
    expect(parseResponsesRequest({ model: 'm', input: 'x', include: ['reasoning.encrypted_content'] }).base).not.toHaveProperty('logprobs');
  });

  it.each([
    ['json_object', { type: 'json_object' }, 'json'],
    ['json_schema', { type: 'json_schema', name: 'x', schema: { type: 'object' } }, { type: 'object' }],
    ['text', { type: 'text' }, undefined],
  ])('text.format %s becomes the job format', (_name, format, expected) => {
    expect(parseResponsesRequest({ model: 'm', input: 'x', text: { format } }).base.format).toEqual(expected);
  });

  it.each([
    ['a built-in tool', { tools: [{ type: 'file_search' }] }, 'tools.0.type', /"file_search" tool is not supported/],
    ['a built-in tool choice', { tool_choice: { type: 'mcp' } }, 'tool_choice', /"mcp"/],
    ['an item reference', { input: [{ type: 'item_reference', id: 'x' }] }, 'input.0', /item references/],
    ['an image URL to fetch', { input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }] }, 'input.0.content.0.image_url', /data: URLs/],
    ['a file part', { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }, 'input.0.content.0', /input_file/],
    ['background without store', { background: true, store: false }, 'store', /store: true/],
    ['a conversation', { conversation: 'c' }, 'conversation', /previous_response_id/],
    ['an include value it does not know', { include: ['message.output_text.logprobs', 'message.secret'] }, 'include.1', /"message.secret" is not supported/],
    ['too much metadata', { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }, 'metadata', /16/],
    ['a schema without a name', { text: { format: { type: 'json_schema', schema: {} } } }, 'text.format.name', /name/],
  ])('refuses %s naming the parameter', (_name, extra, param, message) => {
    const e = refusal({ model: 'm', input: 'x', ...extra });
    expect(e.status).toBe(400);
    expect(e.param).toBe(param);
    expect(e.message).toMatch(message);
  });
});

describe('Responses items as chat messages', () => {
  it('joins calls to the assistant turn before them and makes call outputs tool results', () => {
    const items: ConversationItem[] = [
      { type: 'message', id: 'm1', role: 'developer', content: [{ type: 'input_text', text: 'be brief' }], status: 'completed' },
      { type: 'message', id: 'm2', role: 'user', content: [{ type: 'input_text', text: 'look' }, { type: 'input_image', image_url: 'data:image/png;base64,QUJD', detail: 'auto' }], status: 'completed' },
      { type: 'reasoning', id: 'r', summary: [{ type: 'summary_text', text: 'hmm' }] },
      { type: 'message', id: 'm3', role: 'assistant', content: [{ type: 'output_text', text: 'calling', annotations: [] }], status: 'completed' },
      { type: 'function_call', id: 'fc1', call_id: 'c1', name: 'a', arguments: '{}', status: 'completed' },
      { type: 'function_call', id: 'fc2', call_id: 'c2', name: 'b', arguments: '{"x":1}', status: 'completed' },
      { type: 'function_call_output', id: 'o1', call_id: 'c1', output: 'one', status: 'completed' },
      { type: 'function_call', id: 'fc3', call_id: 'c3', name: 'a', arguments: '{}', status: 'completed' },
    ];
    expect(itemsToMessages(items)).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'look', images: ['QUJD'] },
      { role: 'assistant', content: 'calling', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } }, { id: 'c2', type: 'function', function: { name: 'b', arguments: '{"x":1}' } }] },
      { role: 'tool', content: 'one', tool_call_id: 'c1' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'c3', type: 'function', function: { name: 'a', arguments: '{}' } }] },
    ]);
  });
});

describe('Responses output items', () => {
  const call = { id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{"a":1}' } };
  it.each<[string, JobOutput, boolean, string[]]>([
    ['text', { message: { role: 'assistant', content: 'hi' } }, false, ['message']],
    ['empty text', { message: { role: 'assistant', content: '' } }, false, ['message']],
    ['thinking and text', { message: { role: 'assistant', content: 'hi', thinking: 'hmm' } }, false, ['reasoning', 'message']],
    ['a forced call (its text is the call)', { message: { role: 'assistant', content: '{"name":"f"}', tool_calls: [call] } }, true, ['function_call']],
    ['text and a chosen call', { message: { role: 'assistant', content: 'let me', tool_calls: [call] } }, false, ['message', 'function_call']],
  ])('%s', (_name, output, forced, types) => {
    expect(outputItems('job_1', output, forced).map((i) => i.type)).toEqual(types);
  });
});

function writerRun(events: ConversationEvent[], output: ConversationItem[], after = -1): ResponseStreamEvent[] {
  const out: ResponseStreamEvent[] = [];
  const rec = { id: 'resp_j', jobId: 'j', tenant: 't', model: 'm', createdAt: 0, forced: false, input: [], history: [], params: parseResponsesRequest({ model: 'm', input: 'x' }).params } satisfies Omit<ResponseRecord, 'result'>;
  const w = new ResponseEventWriter('j', (ev) => out.push(ev), after);
  w.start(responseObject({ ...rec, result: null }));
  events.forEach((ev) => w.on(ev));
  w.finish(responseObject({ ...rec, result: { status: 'completed', output, usage: null, error: null, incomplete_details: null, completedAt: 0 } }));
  return out;
}

describe('Responses event writer', () => {
  const events: ConversationEvent[] = [
    { type: 'reasoning', text: 'thin' },
    { type: 'reasoning', text: 'king' },
    { type: 'text', text: 'Hel' },
    { type: 'text', text: 'lo' },
    { type: 'tool_call_start', index: 0, id: 'call_1', name: 'f' },
    { type: 'tool_call_delta', index: 0, arguments: '{"a"' },
    { type: 'tool_call_delta', index: 0, arguments: ':1}' },
    { type: 'tool_call_end', index: 0 },
  ];
  const output = outputItems('j', { message: { role: 'assistant', content: 'Hello', thinking: 'thinking', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] } }, false);

  it('writes reasoning, message and call items in the documented order, numbered from 0', () => {
    const out = writerRun(events, output);
    expect(out.map((e) => e.sequence_number)).toEqual(out.map((_, i) => i));
    expect(out.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    // The streamed items are the final response's items, ids included.
    const done = out.filter((e) => e.type === 'response.output_item.done').map((e) => e.item);
    expect(done).toEqual((out.at(-1)!.response as { output: unknown[] }).output);
  });

  it('hands on only the events after starting_after, numbered as in the whole stream', () => {
    const all = writerRun(events, output);
    expect(writerRun(events, output, 10)).toEqual(all.slice(11));
  });

  it('adds the items the stream never showed (an empty answer still has its message)', () => {
    const out = writerRun([], outputItems('j', { message: { role: 'assistant', content: '' } }, false));
    expect(out.map((e) => e.type)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added', 'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
  });
});
