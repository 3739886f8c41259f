/** `GET /v1/responses/{id}/input_items`: a response's input items as an OpenAI list page. Pure. */
import { OpenAiError } from '../openai/errors.ts';
import type { ConversationItem } from './items.ts';

/** One page of `items` after the `after` item, `limit` long (1-100, default 20), newest first unless `order` is asc. */
export function inputItemsPage(items: readonly ConversationItem[], query: Record<string, unknown>) {
  const limit = query.limit === undefined ? 20 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw OpenAiError.invalid('limit must be an integer from 1 to 100', 'limit');
  const order = query.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw OpenAiError.invalid('order must be "asc" or "desc"', 'order');
  const ordered = order === 'asc' ? [...items] : [...items].reverse();
  let start = 0;
  if (query.after !== undefined) {
    const i = ordered.findIndex((it) => it.id === query.after);
    if (i < 0) throw OpenAiError.invalid(`after names no input item of this response: ${JSON.stringify(query.after)}`, 'after');
    start = i + 1;
  }
  const data = ordered.slice(start, start + limit);
  return { object: 'list' as const, data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: start + limit < ordered.length };
}
