/**
 * Newline-delimited JSON from a byte stream, as Ollama streams it. Network reads do not
 * respect lines: one read can end inside a line (even inside a UTF-8 character) and one
 * read can carry several lines, so bytes are decoded as a stream and lines are cut only at
 * `\n`. Invariant: `pending` never holds a complete line between reads.
 */
import { EngineError } from '../../../protocol/errors.ts';

/** A line longer than this without a newline means the peer is not speaking NDJSON. */
export const MAX_NDJSON_LINE_BYTES = 16 * 1024 * 1024;

function parseLine(line: string): unknown {
  const trimmed = line.trim();
  if (trimmed === '') return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch (err) {
    throw new EngineError('engine_error', `malformed NDJSON line from ollama: ${JSON.stringify(trimmed.slice(0, 200))}`, { cause: err });
  }
}

/** Yields each JSON value of the stream in order; blank lines are skipped. */
export async function* readNdjson(body: AsyncIterable<Uint8Array>): AsyncGenerator<unknown, void, undefined> {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  for await (const bytes of body) {
    pending += decoder.decode(bytes, { stream: true });
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    if (pending.length > MAX_NDJSON_LINE_BYTES) {
      throw new EngineError('engine_error', `NDJSON line from ollama exceeds ${MAX_NDJSON_LINE_BYTES} bytes`);
    }
    for (const line of lines) {
      const value = parseLine(line);
      if (value !== undefined) yield value;
    }
  }
  const last = parseLine(pending + decoder.decode());
  if (last !== undefined) yield last;
}
