/** Checks a Responses stream against the documented order of its semantic events. */
import { expect } from 'vitest';

export interface StreamEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

const END = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * Asserts: sequence numbers count up from the first without a gap; created and in_progress
 * open it, one terminal event ends it; each item's events come between its output_item.added
 * and output_item.done, parts and deltas between their added and done. Returns the text the
 * deltas add up to (checked against each output_text.done) and the final response.
 */
export function checkEventOrder(events: StreamEvent[], firstSeq = 0): { text: string; final: Record<string, unknown> } {
  events.forEach((e, i) => expect(e.sequence_number, `event ${i} (${e.type})`).toBe(firstSeq + i));
  const last = events.at(-1)!;
  expect(END.has(last.type), `last event ${last.type}`).toBe(true);
  expect(events.filter((e) => END.has(e.type))).toHaveLength(1);
  // A resumed stream starts inside an item: its numbering and end are checked, the rest by comparison with the whole stream.
  if (firstSeq > 0) return { text: '', final: last.response as Record<string, unknown> };
  expect(events.slice(0, 2).map((e) => e.type)).toEqual(['response.created', 'response.in_progress']);
  const open = new Map<number, string>();
  const partOpen = new Set<number>();
  const texts = new Map<number, string>();
  let text = '';
  for (const e of events.slice(2, -1)) {
    const index = e.output_index as number;
    switch (e.type) {
      case 'response.output_item.added':
        expect(open.has(index)).toBe(false);
        open.set(index, (e.item as { type: string }).type);
        break;
      case 'response.content_part.added':
        expect(open.get(index)).toBe('message');
        partOpen.add(index);
        texts.set(index, '');
        break;
      case 'response.output_text.delta':
        expect(partOpen.has(index)).toBe(true);
        texts.set(index, texts.get(index)! + (e.delta as string));
        text += e.delta as string;
        break;
      case 'response.output_text.done':
        expect(partOpen.has(index)).toBe(true);
        expect(e.text).toBe(texts.get(index));
        break;
      case 'response.content_part.done':
        expect(partOpen.delete(index)).toBe(true);
        break;
      case 'response.function_call_arguments.delta':
      case 'response.function_call_arguments.done':
        expect(open.get(index)).toBe('function_call');
        break;
      case 'response.output_item.done':
        expect(open.has(index)).toBe(true);
        expect(partOpen.has(index)).toBe(false);
        open.delete(index);
        break;
      default:
        expect(e.type).toMatch(/^response\.reasoning_summary_/);
    }
  }
  expect([...open.keys()]).toEqual([]);
  return { text, final: last.response as Record<string, unknown> };
}
