/**
 * Hostile requests for Anthropic's Messages routes (`/v1/messages`, `/v1/messages/count_tokens`),
 * mixed into the fuzz corpus by test/support/fuzz-corpus.ts, which passes its dice and values in.
 */

/** The corpus's FuzzRequest, restated so that this file need not import the corpus that imports it. */
export interface AnthropicFuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  stream?: 'anthropic';
}

export interface AnthropicFuzzDeps {
  model: string;
  r: () => number;
  pick: <T>(xs: readonly T[]) => T;
  serialize: (v: unknown) => string;
  nest: (depth: number) => unknown;
  weird: readonly unknown[];
}

/** Makers of Messages requests: a valid body with one field made hostile, or a hostile body outright. */
export function anthropicMakers(d: AnthropicFuzzDeps): (() => AnthropicFuzzRequest)[] {
  const { r, pick, serialize, nest, weird } = d;
  const WEIRD_VALUES_OR_BOOL = [...weird, true, false];
  const json = { 'content-type': 'application/json' };
  const messagesBody = (): unknown => {
    const b: Record<string, any> = { model: d.model, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }], stream: r() < 0.4 };
    switch (Math.floor(r() * 19)) {
      case 14: b.messages = [{ role: 'user', content: [{ type: 'image', source: pick([{ type: 'base64', media_type: 'image/png', data: pick(['%%%', '', 'A'.repeat(400_000), nest(10)]) }, { type: 'base64', media_type: pick(['image/tiff', '', nest(5)]), data: 'AAAA' }, { type: 'url', url: 'http://169.254.169.254/' }, { type: 'file', file_id: 'x' }, nest(1_000), 'x']) }] }]; break;
      case 15: b.messages = [{ role: 'user', content: 'x' }, { role: 'assistant', content: [{ type: 'tool_use', id: pick(['', 'x'.repeat(300), 'toolu_1', nest(5)]), name: pick(['f', '', nest(5)]), input: pick([{}, 'x', nest(5_000), [], null]) }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: pick(['toolu_1', '', nest(5)]), content: pick(['ok', [{ type: 'text', text: 'ok' }], [{ type: 'image', source: {} }], [{ type: 'bogus' }], nest(2_000)]), is_error: pick(WEIRD_VALUES_OR_BOOL) }] }]; break;
      case 16: b.tools = pick([[{ type: 'web_search_20250305', name: 'web_search' }], [{ type: 'bash_20250124', name: 'bash' }], [{ name: 'f', input_schema: { type: 'object' } }, { name: 'f', input_schema: { type: 'object' } }], [{ name: 'x'.repeat(200), input_schema: { type: 'object' } }], [{ name: 'f', input_schema: { type: 'array' } }]]); b.tool_choice = pick([{ type: 'any' }, { type: 'tool', name: 'zz' }, { type: 'auto', disable_parallel_tool_use: 'yes' }, { type: 'none' }]); break;
      case 17: b.thinking = pick([{ type: 'enabled', budget_tokens: pick(weird) }, { type: 'enabled', budget_tokens: 2 }, { type: 'adaptive' }, { type: 'enabled', budget_tokens: 1, extra: 1 }]); b.max_tokens = pick([4, 4096]); break;
      case 18: b.messages = [{ role: 'assistant', content: [{ type: pick(['thinking', 'redacted_thinking']), thinking: nest(100), signature: pick(weird) }] }, { role: 'user', content: [{ type: 'tool_use', id: 'x', name: 'f', input: {} }] }]; break;
      case 0: b.messages = pick([[], {}, 'hi', null, [null], [{ role: 'user' }], [{ role: 'system', content: 'x' }], [{ role: 'user', content: nest(100) }], nest(10_000)]); break;
      case 1: b.messages[0].content = pick([[{ type: 'text' }], [{ type: 'image', source: { type: 'base64', data: 'AA==' } }], [{ type: 'tool_result', tool_use_id: 'x' }], [{ type: 'text', text: nest(5_000) }], [{}], ['x'], [{ type: 'bogus' }], 'x'.repeat(300_000)]); break;
      case 2: b.system = pick([...weird, nest(5_000), [{ type: 'text' }], [{ type: 'image' }], [{ type: 'text', text: 'x', extra: 1 }]]); break;
      case 3: b.tools = pick([[nest(10_000)], nest(5_000), [{ name: 'f', input_schema: nest(9_000) }], 'x', []]); break;
      case 4: b.tool_choice = pick([...weird, { type: 'none' }, { type: 'auto' }, nest(5_000)]); break;
      case 5: b.max_tokens = pick(weird); break;
      case 6: b.temperature = pick(weird); b.top_p = pick(weird); b.top_k = pick(weird); break;
      case 7: b.stop_sequences = pick([nest(50), Array.from({ length: 500 }, () => 'x'), [1], '', ['x'.repeat(70_000)]]); break;
      case 8: b.metadata = pick([nest(10_000), { user_id: nest(10) }, { other: 1 }, [], 'x', { user_id: 'u'.repeat(500) }]); break;
      case 9: b.model = pick(weird); break;
      case 10: b.thinking = pick([...weird, { type: 'enabled', budget_tokens: 1024 }, { type: 'disabled' }]); break;
      case 11: b[pick(['n', 'frequency_penalty', 'container', 'mcp_servers', 'service_tier', '__proto__', 'constructor'])] = pick([...weird, nest(5_000)]); break;
      case 12: b.stream = pick(weird); break;
      default: return pick(weird);
    }
    return b;
  };
  const path = () => pick(['/v1/messages', '/v1/messages', '/v1/messages/count_tokens']);
  return [
    () => ({ method: 'POST', path: '/v1/messages', headers: json, body: serialize(messagesBody()), stream: 'anthropic' }),
    () => ({ method: 'POST', path: '/v1/messages', headers: { ...json, 'anthropic-version': pick(['2023-06-01', '', 'x'.repeat(3000), '\u0080']) }, body: serialize(messagesBody()), stream: 'anthropic' }),
    () => ({ method: 'POST', path: '/v1/messages/count_tokens', headers: json, body: serialize(messagesBody()) }),
    () => ({ method: pick(['POST', 'GET', 'PUT', 'DELETE']), path: path() + pick(['', '?beta=true', '/%00', '/x', '/batches']), headers: { 'content-type': pick(['text/plain', 'application/json; charset=utf-16', 'application/json; charset=bogus', '']), ...(r() < 0.3 ? { 'x-api-key': pick(['', ' ', 'x'.repeat(5000)]) } : {}) }, body: serialize(messagesBody()), stream: 'anthropic' }),
  ];
}
