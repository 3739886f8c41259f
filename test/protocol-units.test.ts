import { describe, expect, it } from 'vitest';
import { parseApiKeys } from '../producer-api/settings/config.ts';
import { preferWaitSec } from '../producer-api/http/request-parsing.ts';
import { ConfigError, envBool, envBytes, envDurationMs, envInt, parseDurationMs } from '../protocol/env.ts';
import { InvalidModelNameError, canonicalModelName, modelNameForQueue, queueNameFor } from '../protocol/model-names.ts';
import { bullJobId, parseBullJobId, queueKeys } from '../store/queue-keys.ts';
import { visibleStatus, webhookEventFor } from '../protocol/statuses.ts';
import { minPromptTokens, servingContext } from '../protocol/context-length.ts';
import type { Heartbeat } from '../protocol/worker-state.ts';

describe('model names', () => {
  const cases: [string, string][] = [
    ['llama3.1:8b', 'llama3.1:8b'],
    ['llama3.1', 'llama3.1:latest'],
    ['hf.co/org/repo:Q4_K_M', 'hf.co/org/repo:Q4_K_M'],
    ['hf.co/org/repo', 'hf.co/org/repo:latest'],
    ['Mistral-7B', 'Mistral-7B:latest'],
  ];
  for (const [input, canonical] of cases) {
    it(`maps ${input} to ${canonical} and to a queue name that round-trips`, () => {
      expect(canonicalModelName(input)).toBe(canonical);
      const q = queueNameFor(canonical);
      expect(q).toMatch(/^model-[a-z0-9._~-]+\{[0-9a-f]{8}\}$/);
      expect(q).not.toContain(':');
      expect(modelNameForQueue(q)).toBe(canonical);
    });
  }

  it('keeps names that differ only in case or punctuation on different queues', () => {
    const names = ['a:b', 'a/b:latest', 'A:b', 'a.b:latest', 'a-b:latest', 'a_b:latest'].map(canonicalModelName);
    expect(new Set(names.map(queueNameFor)).size).toBe(names.length);
  });

  for (const bad of ['', ' ', '../x', 'a b', 'a:b:c', ':tag', 'x'.repeat(300), 'name;rm -rf']) {
    it(`refuses the model name ${JSON.stringify(bad.slice(0, 20))}`, () => {
      expect(() => canonicalModelName(bad)).toThrow(InvalidModelNameError);
    });
  }
});

describe('queue keys', () => {
  it('spells a model queue\'s keys as BullMQ does and round-trips the job id of every run', () => {
    const q = queueKeys('fabric:q', 'llama3.1:8b');
    expect(q.name).toBe(queueNameFor('llama3.1:8b'));
    expect(q.wait).toBe(`fabric:q:${q.name}:wait`);
    expect(q.prioritized).toBe(`fabric:q:${q.name}:prioritized`);
    expect(q.job('abc')).toBe(`fabric:q:${q.name}:abc`);
    for (const run of [0, 1, 12]) expect(parseBullJobId(bullJobId('job-1', run))).toEqual({ id: 'job-1', run });
  });
});

describe('config readers', () => {
  it('parses durations, sizes, integers and booleans and says which variable is wrong', () => {
    expect(parseDurationMs('1h30m')).toBe(5_400_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('2')).toBe(2000);
    expect(envDurationMs({ X: '5m' }, 'X', 1)).toBe(300_000);
    expect(envBytes({ X: '24GiB' }, 'X', 1)).toBe(24 * 1024 ** 3);
    expect(envBytes({ X: '10mb' }, 'X', 1)).toBe(10_000_000);
    expect(envInt({}, 'X', 7)).toBe(7);
    expect(envBool({ X: 'yes' }, 'X', false)).toBe(true);
    expect(() => envInt({ X: 'many' }, 'X', 1)).toThrow(/X must be an integer/);
    expect(() => envDurationMs({ X: 'soon' }, 'X', 1)).toThrow(ConfigError);
    expect(() => envBytes({ X: '3 parsecs' }, 'X', 1)).toThrow(/X must be a size/);
  });

  it('reads tenant keys and refuses malformed entries', () => {
    expect(parseApiKeys('a:k1, b:k2')).toEqual(new Map([['k1', 'a'], ['k2', 'b']]));
    expect(() => parseApiKeys('nokey')).toThrow(/tenant:key/);
  });
});

describe('statuses', () => {
  it('shows loading_model only for a queued job whose model is loading', () => {
    expect(visibleStatus('queued', true)).toBe('loading_model');
    expect(visibleStatus('queued', false)).toBe('queued');
    expect(visibleStatus('running', true)).toBe('running');
  });

  it('maps terminal statuses to webhook events', () => {
    expect(webhookEventFor('succeeded')).toBe('job.completed');
    expect(webhookEventFor('timed_out')).toBe('job.failed');
    expect(webhookEventFor('queued')).toBeUndefined();
  });

  it('reads Prefer: wait in its RFC 7240 forms', () => {
    expect(preferWaitSec('wait=10')).toBe(10);
    expect(preferWaitSec('respond-async, wait=5')).toBe(5);
    expect(preferWaitSec('return=minimal')).toBeUndefined();
  });
});

describe('the context a prompt must fit', () => {
  const M = 'demo-chat:latest';
  const entry = (contextLength: number | null) => ({ name: M, sizeBytes: 1, engine: 'llama-cpp', family: null, parameterSize: null, quantization: null, digest: null, modifiedAt: '', contextLength, estimatedBytes: null });
  const worker = (contexts: (number | undefined)[]) => ({
    resident: contexts.map((c) => ({ model: M, sizeBytes: 1, sizeVramBytes: 0, estimatedBytes: 1, loadedAt: 0, lastUsedAt: 0, activeJobs: 0, ...(c ? { contextLength: c } : {}) })),
  }) as unknown as Heartbeat;
  const cases: { name: string; catalog: number | null | undefined; workers: (number | undefined)[][]; want: number | undefined }[] = [
    { name: 'the catalog says when nothing is resident', catalog: 1024, workers: [], want: 1024 },
    { name: 'a worker running it with more context raises it', catalog: 1024, workers: [[1024], [4096]], want: 4096 },
    { name: 'a smaller resident context never lowers the catalog', catalog: 2048, workers: [[512]], want: 2048 },
    { name: 'a resident copy without a context adds nothing', catalog: null, workers: [[undefined]], want: undefined },
    { name: 'a model out of the catalog has none', catalog: undefined, workers: [], want: undefined },
  ];
  for (const c of cases) {
    it(`${c.name}`, () => {
      const catalog = new Map(c.catalog === undefined ? [] : [[M, entry(c.catalog)]]);
      expect(servingContext({ workers: c.workers.map(worker), catalog, measured: new Map() }, M)).toBe(c.want);
    });
  }
});

describe('the prompt lower bound at submit', () => {
  const tools = [{ name: 'lookup', description: 'x'.repeat(3200), parameters: { type: 'object' } }];
  it('counts the tool definitions an engine renders into the prompt, unless tool_choice is none', () => {
    const plain = minPromptTokens({ messages: [{ role: 'user', content: 'hi' }] });
    expect(minPromptTokens({ messages: [{ role: 'user', content: 'hi' }], tools })).toBeGreaterThanOrEqual(plain + 100);
    expect(minPromptTokens({ messages: [{ role: 'user', content: 'hi' }], tools, tool_choice: 'none' })).toBe(plain);
  });
  it("counts the history's tool-call arguments", () => {
    const call = { id: 'c', type: 'function' as const, function: { name: 'f', arguments: JSON.stringify({ q: 'y'.repeat(640) }) } };
    expect(minPromptTokens({ messages: [{ role: 'assistant', content: '', tool_calls: [call] }] })).toBeGreaterThanOrEqual(20);
  });
});
