/**
 * Hostile requests for the Responses API (`/v1/responses` and the routes of one response),
 * mixed into the fuzz corpus by test/support/fuzz-corpus.ts, which passes its dice and values in.
 */

/** The corpus's FuzzRequest, restated so that this file need not import the corpus that imports it. */
export interface ResponsesFuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  stream?: 'responses';
}

export interface ResponsesFuzzDeps {
  model: string;
  /** A stored response of the tenant the corpus calls as. */
  responseId: string;
  r: () => number;
  pick: <T>(xs: readonly T[]) => T;
  serialize: (v: unknown) => string;
  nest: (depth: number) => unknown;
  weird: readonly unknown[];
}

/** Makers of Responses requests: a valid body with one field made hostile, or a hostile body outright. */
export function responsesMakers(d: ResponsesFuzzDeps): (() => ResponsesFuzzRequest)[] {
  const { r, pick, serialize, nest, weird } = d;
  const json = { 'content-type': 'application/json' };
  const body = (): unknown => {
    const b: Record<string, any> = { model: d.model, input: 'hi', max_output_tokens: 4, stream: r() < 0.4 };
    switch (Math.floor(r() * 16)) {
      case 0: b.input = pick([[], {}, null, [null], [{ role: 'user' }], [{ role: 'bogus', content: 'x' }], [{ role: 'user', content: nest(100) }], nest(10_000), 'x'.repeat(300_000)]); break;
      case 1: b.input = [{ role: 'user', content: pick([[{ type: 'input_text' }], [{ type: 'input_image', image_url: pick(['data:,', 'http://x', 'data:image/png;base64,AA==', '']) }], [{ type: 'input_file', file_id: 'x' }], [{}], ['x'], [{ type: 'input_text', text: nest(5_000) }]]) }]; break;
      case 2: b.input = [pick([{ type: 'function_call' }, { type: 'function_call', call_id: 'c', name: 'f', arguments: nest(10) }, { type: 'function_call_output', call_id: '', output: 1 }, { type: 'item_reference', id: 'x' }, { type: 'web_search_call' }, { type: 'reasoning', summary: 'x' }, { type: nest(5) }])]; break;
      case 3: b.tools = pick([[nest(10_000)], nest(5_000), [{ type: 'function', name: 'f', parameters: nest(9_000) }], [{ type: pick(['web_search', 'file_search', 'mcp', 'code_interpreter', 'computer_use_preview', 'bogus', '']) }], 'x', [], [{ type: 'function', name: 'f'.repeat(100) }]]); break;
      case 4: b.tool_choice = pick([...weird, 'required', { type: 'function' }, { type: 'web_search' }, nest(5_000)]); b.tools = [{ type: 'function', name: 'f' }]; break;
      case 5: b.max_output_tokens = pick(weird); b.temperature = pick(weird); b.top_p = pick(weird); break;
      case 6: b.text = pick([...weird, { format: nest(50) }, { format: { type: 'json_schema' } }, { format: { type: 'json_schema', name: 'x', schema: nest(9_000) } }, { format: { type: 'json_schema', name: '%%', schema: {} } }, { format: { type: 'bogus' } }]); break;
      case 7: b.metadata = pick([nest(10_000), { k: nest(10) }, Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, 'v'])), [], 'x', { ['k'.repeat(100)]: 'v' }]); break;
      case 8: b.model = pick(weird); break;
      case 9: b.previous_response_id = pick([...weird, 'resp_', 'resp_x', `${d.responseId}x`, d.responseId, 'resp_' + 'x'.repeat(500), 'resp_%00']); break;
      case 10: b.background = pick(weird); b.store = pick(weird); break;
      case 11: b.reasoning = pick([...weird, { effort: 'high' }, { effort: 'bogus' }, nest(5_000)]); break;
      case 12: b[pick(['conversation', 'prompt', 'top_logprobs', 'include', 'truncation', '__proto__', 'constructor'])] = pick([...weird, nest(5_000)]); break;
      case 13: b.instructions = pick([...weird, nest(100), 'x'.repeat(200_000)]); break;
      case 14: b.stream = pick(weird); break;
      default: return pick(weird);
    }
    return b;
  };
  const id = () => pick([d.responseId, 'resp_nope', 'resp_', '%00', 'x'.repeat(3000), `${d.responseId}%2F..`, 'resp_%E0%A4%A']);
  const query = () => pick(['', '?stream=true', `?stream=true&starting_after=${pick(['-5', 'x', '1e99', '%00', '3', '-1'])}`, '?stream=%00', '?limit=0', '?limit=1000&order=x', '?after=%00', '?limit=2&order=asc']);
  return [
    () => ({ method: 'POST', path: '/v1/responses', headers: json, body: serialize(body()), stream: 'responses' }),
    () => ({ method: 'GET', path: `/v1/responses/${id()}${query()}`, headers: {}, stream: 'responses' }),
    () => ({ method: 'GET', path: `/v1/responses/${id()}/input_items${query()}`, headers: {} }),
    () => ({ method: pick(['POST', 'DELETE', 'PUT', 'GET']), path: `/v1/responses/${pick(['resp_nope', '%00', 'x'.repeat(3000)])}${pick(['', '/cancel', '/x', '/input_items/%00'])}`, headers: { 'content-type': pick(['text/plain', 'application/json', '']) }, body: r() < 0.5 ? serialize(body()) : undefined }),
  ];
}
