import { describe, expect, it } from 'vitest';
import { ConfigError } from '../protocol/env.ts';
import { parseRedisConnection } from '../store/redis-config.ts';
import { parseRedisEndpoint, redact } from '../store/redis-endpoint.ts';

describe('REDIS_URL', () => {
  it('keeps a plain redis:// URL as a single server, credentials included', () => {
    expect(parseRedisEndpoint('redis://:s3cret@10.0.0.5:6380/2')).toEqual({ kind: 'single', url: 'redis://:s3cret@10.0.0.5:6380/2', password: 's3cret' });
  });

  it('reads sentinels, the master name and a db from redis+sentinel://', () => {
    expect(parseRedisEndpoint('redis+sentinel://app:pw@s1:26379,s2,[::1]:26380/mymaster/3', { sentinelPassword: 'sp' })).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      masterName: 'mymaster',
      db: 3,
      tls: false,
      username: 'app',
      password: 'pw',
      sentinelPassword: 'sp',
    });
  });

  it('reads seed nodes from redis+cluster:// and rediss+cluster:// (TLS)', () => {
    expect(parseRedisEndpoint('rediss+cluster://h1:7000,h2:7001')).toEqual({ kind: 'cluster', nodes: [{ host: 'h1', port: 7000 }, { host: 'h2', port: 7001 }], tls: true });
  });

  for (const bad of ['localhost:6379', 'http://h:1', 'redis+sentinel://h1:26379', 'redis+sentinel://h1/m/x', 'redis+cluster://h1:7000/1', 'redis+cluster://h1:99999', 'redis+cluster:///']) {
    it(`refuses ${bad} with a ConfigError`, () => {
      expect(() => parseRedisEndpoint(bad)).toThrow(ConfigError);
    });
  }

  it('never repeats a password in its errors', () => {
    expect(() => parseRedisEndpoint('redis+sentinel://u:topsecret@h1')).toThrow(/u:\*\*\*@h1/);
    expect(redact('redis://:pw@h:1')).toBe('redis://:***@h:1');
  });

  it('accepts every kind where a connection is made: one server, a sentinel group, a cluster', () => {
    expect(parseRedisConnection('redis://h:6379').kind).toBe('single');
    expect(parseRedisConnection('redis+sentinel://h1:26379/m').kind).toBe('sentinel');
    expect(parseRedisConnection('redis+cluster://h1:7000,h2:7001')).toMatchObject({ kind: 'cluster', nodes: [{ host: 'h1', port: 7000 }, { host: 'h2', port: 7001 }] });
  });
});
