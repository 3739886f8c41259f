import { describe, expect, it } from 'vitest';
import { ENGINE_FEATURES, featureRefusal } from '../protocol/engine-features.ts';

describe('engine features at submit time', () => {
  const cases: [string, string | undefined, Record<string, unknown>, string | null][] = [
    ['plain text anywhere', 'fake', { prompt: 'hi' }, null],
    ['think false is no ask', 'fake', { prompt: 'hi', think: false }, null],
    ['think on an engine without it', 'fake', { prompt: 'hi', think: true }, 'think'],
    ['logprobs on an engine without them', undefined, { prompt: 'hi', logprobs: true }, 'logprobs'],
    ['top_logprobs alone', 'fake', { prompt: 'hi', top_logprobs: 3 }, 'top_logprobs'],
    ['an image in a message', 'fake', { messages: [{ role: 'user', content: 'x', images: ['aGk='] }] }, 'images'],
    ['a generate image', 'fake', { prompt: 'x', images: ['aGk='] }, 'images'],
  ];
  it.each(cases)('%s', (_name, engine, input, param) => {
    const r = featureRefusal(engine, input as never);
    expect(r?.param ?? null).toBe(param);
    if (r) expect(r.message).toContain(`the ${engine ?? 'unknown'} engine`);
  });

  it('an engine that serves a feature lets it through', () => {
    for (const [engine, f] of Object.entries(ENGINE_FEATURES)) {
      expect(featureRefusal(engine, { think: true })?.param === 'think').toBe(!f.think);
      expect(featureRefusal(engine, { logprobs: true })?.param === 'logprobs').toBe(!f.logprobs);
    }
  });
});
