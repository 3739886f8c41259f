import { describe, expect, it } from 'vitest';
import { generateModels, generateTrace, GENERATE_DEFAULTS } from '../sim/generate.ts';
import { formatTraceCsv, parseBytes, parseModelsJson, parseTraceCsv } from '../sim/model/trace.ts';

describe('trace CSV reader', () => {
  it('skips bad lines, reports them with their line numbers and keeps the good ones sorted (zero output tokens is an embedding, not a bad line)', () => {
    const csv = [
      'arrival_ms,model,prompt_tokens,output_tokens',
      '2000,b,10,5',
      'oops,a,10,5',
      '1000,a,10,5',
      '3000,,10,5',
      '',
      '4000,a,-1,5',
      '5000,a,10,0',
      '5500,a,10,-1',
      '6000,a,10',
      '# a comment',
      '7000,c,1.5,3',
    ].join('\n');
    const { items, problems } = parseTraceCsv(csv);
    expect(items.map((r) => [r.id, r.arrivalMs, r.model])).toEqual([
      [0, 1000, 'a'],
      [1, 2000, 'b'],
      [2, 5000, 'a'],
    ]);
    expect(items[2]?.outputTokens).toBe(0);
    expect(problems.map((p) => p.line)).toEqual([3, 5, 7, 9, 10, 12]);
    expect(problems[0]?.message).toMatch(/arrival_ms/);
  });

  it('requires the header and accepts its columns in any order', () => {
    expect(parseTraceCsv('1000,a,10,5\n').problems[0]).toMatchObject({ line: 1 });
    const { items } = parseTraceCsv('model,output_tokens,arrival_ms,prompt_tokens\na,5,100,7\n');
    expect(items).toEqual([{ id: 0, arrivalMs: 100, model: 'a', promptTokens: 7, outputTokens: 5 }]);
  });

  it('reads an empty file as an empty trace', () => {
    expect(parseTraceCsv('')).toEqual({ items: [], problems: [] });
  });

  it('round-trips through formatTraceCsv', () => {
    const trace = generateTrace(generateModels(), { durationMs: 60_000 });
    expect(parseTraceCsv(formatTraceCsv(trace)).items).toEqual(trace);
  });
});

describe('models JSON reader', () => {
  it('skips entries without a name or a positive size and duplicates', () => {
    const { items, problems } = parseModelsJson(JSON.stringify([{ name: 'a', size_bytes: 5 }, { name: 'b' }, { size_bytes: 3 }, { name: 'a', size_bytes: 7 }]));
    expect(items).toEqual([{ name: 'a', sizeBytes: 5 }]);
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4]);
  });

  it('reports a file that is not a JSON array instead of throwing', () => {
    expect(parseModelsJson('{').problems).toHaveLength(1);
    expect(parseModelsJson('{}').problems[0]?.message).toMatch(/array/);
  });
});

describe('sizes', () => {
  it('parses binary and decimal units', () => {
    expect(parseBytes('24GiB')).toBe(24 * 2 ** 30);
    expect(parseBytes('80GB')).toBe(80e9);
    expect(parseBytes('512')).toBe(512);
    expect(() => parseBytes('lots')).toThrow(/not a size/);
  });
});

describe('trace generator', () => {
  it('gives the same trace for the same seed and a different one for another seed', () => {
    const models = generateModels({ ...GENERATE_DEFAULTS, seed: 3 });
    const a = generateTrace(models, { seed: 3, durationMs: 600_000 });
    const b = generateTrace(models, { seed: 3, durationMs: 600_000 });
    const c = generateTrace(models, { seed: 4, durationMs: 600_000 });
    expect(a.length).toBeGreaterThan(0);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    expect(generateModels({ ...GENERATE_DEFAULTS, seed: 3 })).toEqual(models);
  });

  it('stays within the duration, sorted, over 12 models of 1-40 GB with a skewed popularity', () => {
    const models = generateModels();
    expect(models).toHaveLength(12);
    for (const m of models) expect(m.sizeBytes >= 1e9 && m.sizeBytes <= 40e9).toBe(true);
    const trace = generateTrace(models);
    expect(trace.every((r, i) => r.arrivalMs >= 0 && r.arrivalMs < 2 * 3_600_000 && (i === 0 || r.arrivalMs >= trace[i - 1]!.arrivalMs))).toBe(true);
    const counts = models.map((m) => trace.filter((r) => r.model === m.name).length).sort((x, y) => y - x);
    expect(counts[0]!).toBeGreaterThan(4 * counts[11]!);
  });
});
