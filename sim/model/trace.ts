/**
 * Simulator input: a request trace (CSV) and a model list (JSON). Readers never throw on bad
 * content: a bad line is reported with its line number and skipped, so one typo in a large
 * trace does not stop a comparison. The generator for traces without a file is in generate.ts.
 */

export interface TraceRequest {
  /** Position in the sorted trace: the request's identity in every policy's run. */
  readonly id: number;
  readonly arrivalMs: number;
  readonly model: string;
  readonly promptTokens: number;
  readonly outputTokens: number;
}

export interface ModelSpec {
  readonly name: string;
  readonly sizeBytes: number;
}

export interface ParseProblem {
  /** 1-based line number in the CSV, or array index + 1 in the models JSON. */
  readonly line: number;
  readonly message: string;
}

export interface Parsed<T> {
  readonly items: T[];
  readonly problems: ParseProblem[];
}

export const TRACE_HEADER = ['arrival_ms', 'model', 'prompt_tokens', 'output_tokens'] as const;

/** Parses a trace CSV; requests come back sorted by arrival (stable), ids by that order. */
export function parseTraceCsv(text: string): Parsed<TraceRequest> {
  const lines = text.split(/\r?\n/);
  const problems: ParseProblem[] = [];
  const headerIdx = lines.findIndex((l) => l.trim() !== '');
  if (headerIdx < 0) return { items: [], problems: [] };
  const header = (lines[headerIdx] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const col = TRACE_HEADER.map((name) => header.indexOf(name));
  if (col.some((c) => c < 0)) {
    problems.push({ line: headerIdx + 1, message: `header must name ${TRACE_HEADER.join(',')}; got "${lines[headerIdx]}"` });
    return { items: [], problems };
  }
  const rows: Omit<TraceRequest, 'id'>[] = [];
  for (let i = headerIdx + 1; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) continue;
    const row = parseRow(raw.split(',').map((f) => f.trim()), col as [number, number, number, number]);
    if (typeof row === 'string') problems.push({ line: i + 1, message: row });
    else rows.push(row);
  }
  const items = rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => a.r.arrivalMs - b.r.arrivalMs || a.i - b.i)
    .map(({ r }, id) => ({ id, ...r }));
  return { items, problems };
}

function parseRow(f: string[], [a, m, p, o]: [number, number, number, number]): Omit<TraceRequest, 'id'> | string {
  const arrivalMs = Number(f[a]);
  const model = f[m] ?? '';
  const promptTokens = Number(f[p]);
  const outputTokens = Number(f[o]);
  if (f[a] === undefined || f[a] === '' || !Number.isFinite(arrivalMs) || arrivalMs < 0) return `arrival_ms must be a number >= 0, got "${f[a] ?? ''}"`;
  if (model === '') return 'model is empty';
  if (!Number.isInteger(promptTokens) || promptTokens < 0) return `prompt_tokens must be an integer >= 0, got "${f[p] ?? ''}"`;
  // 0: an embedding (no generation); its time to first token is the prefill.
  if (!Number.isInteger(outputTokens) || outputTokens < 0) return `output_tokens must be an integer >= 0, got "${f[o] ?? ''}"`;
  return { arrivalMs, model, promptTokens, outputTokens };
}

/** Parses `[{"name", "size_bytes"}]`; bad entries and duplicate names are reported and skipped. */
export function parseModelsJson(text: string): Parsed<ModelSpec> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { items: [], problems: [{ line: 0, message: `not JSON: ${(err as Error).message}` }] };
  }
  if (!Array.isArray(data)) return { items: [], problems: [{ line: 0, message: 'models file must be a JSON array' }] };
  const items: ModelSpec[] = [];
  const problems: ParseProblem[] = [];
  const seen = new Set<string>();
  data.forEach((e: unknown, i) => {
    const entry = e as { name?: unknown; size_bytes?: unknown } | null;
    const name = entry?.name;
    const size = entry?.size_bytes;
    if (typeof name !== 'string' || name === '') problems.push({ line: i + 1, message: 'name must be a non-empty string' });
    else if (typeof size !== 'number' || !Number.isFinite(size) || size <= 0) problems.push({ line: i + 1, message: `size_bytes of ${name} must be a number > 0` });
    else if (seen.has(name)) problems.push({ line: i + 1, message: `duplicate model ${name}` });
    else {
      seen.add(name);
      items.push({ name, sizeBytes: size });
    }
  });
  return { items, problems };
}

/** Writes a trace in the CSV format `parseTraceCsv` reads. */
export function formatTraceCsv(requests: readonly TraceRequest[]): string {
  const body = requests.map((r) => `${Math.round(r.arrivalMs)},${r.model},${r.promptTokens},${r.outputTokens}`);
  return [TRACE_HEADER.join(','), ...body].join('\n') + '\n';
}

/** Parses sizes such as `24GiB`, `80GB`, `512MiB` or plain bytes. */
export function parseBytes(text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([kmgt]i?b?|b)?\s*$/i.exec(text);
  if (!m) throw new Error(`not a size: "${text}" (try 24GiB)`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const pow = { b: 0, k: 1, m: 2, g: 3, t: 4 }[unit[0] as 'b' | 'k' | 'm' | 'g' | 't'];
  const base = unit.includes('i') ? 1024 : 1000;
  return Math.round(Number(m[1]) * base ** pow);
}
