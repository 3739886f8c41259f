/**
 * The key layout a Redis Cluster needs, checked without one: every group of keys the fabric
 * touches in one script or MULTI shares a hash tag (so one slot), and models spread over tags.
 * test/redis-cluster.test.ts runs the fabric on a real cluster.
 */
import { describe, expect, it } from 'vitest';
import { batchKeys } from '../producer-api/batch/batch-keys.ts';
import { createKeys } from '../protocol/keys.ts';
import { queueKeys } from '../store/queue-keys.ts';
import { jobTag, modelTag, newJobId } from '../protocol/slot-tags.ts';

/** What Redis Cluster hashes: the part inside the first `{...}` when it is not empty, else the whole key. */
function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

const keys = createKeys('fabric');

describe('Redis Cluster key layout', () => {
  it('puts a job\'s record, events and deliveries with its model\'s queue, admissions and deadlines (the job-creation script)', () => {
    const model = 'llama3.1:8b';
    const id = newJobId(model);
    const q = queueKeys(keys.bullPrefix, model);
    const created = [keys.job(id), keys.jobEvents(id), keys.jobDeliveries(id), keys.response(id), q.wait, q.prioritized, keys.deadlines(jobTag(id)), keys.modelAdmissions(model)];
    expect(new Set(created.map(hashTagOf))).toEqual(new Set([modelTag(model)]));
    expect(hashTagOf(q.job(id))).toBe(modelTag(model));
    expect(hashTagOf(keys.fairClock(model, 'normal'))).toBe(modelTag(model));
    expect(hashTagOf(keys.modelArrivals(model))).toBe(modelTag(model));
  });

  it('keeps a tenant\'s bucket, counts, usage days and idempotency keys together (the gate script, the ledger MULTI)', () => {
    const tenant = 'team-a';
    const tags = [keys.tenantBucket(tenant), keys.tenantJobs(tenant), keys.tenantUsage(tenant, '2026-01-01'), keys.tenantUsage(tenant, 'total'), keys.idempotency(tenant, 'k1')].map(hashTagOf);
    expect(new Set(tags).size).toBe(1);
    expect(tags[0]).not.toBe(hashTagOf(keys.tenantJobs('team-b')));
  });

  it('keeps the fleet\'s keys together (heartbeat MULTI, snapshot reads, control and decisions pipeline)', () => {
    const fleet = [keys.workersIndex(), keys.workerHeartbeat('w1'), keys.workerControl('w1'), keys.catalog(), keys.footprints(), keys.operatorHolds(), keys.schedulerLease(), keys.schedulerDecisions(), keys.fleetUsage(), keys.deadlineTags(), keys.expirySweepLock()];
    expect(new Set(fleet.map(hashTagOf)).size).toBe(1);
  });

  it('keeps every Batch API key in one slot (its MULTIs and renames span files and batches)', () => {
    const bk = batchKeys(keys);
    const all = [bk.file('f1'), bk.fileLines('f1'), bk.fileUsers('f1'), bk.tenantFiles('t'), bk.batch('b1'), bk.tenantBatches('t'), bk.batchPending('b1'), bk.batchOutput('b1'), bk.batchErrors('b1'), bk.activeBatches(), bk.batchLease('b1')];
    expect(new Set(all.map(hashTagOf)).size).toBe(1);
  });

  it('spreads models over tags, and reads the tag back from a job id', () => {
    const models = Array.from({ length: 200 }, (_, i) => `model-${i}:latest`);
    expect(new Set(models.map(modelTag)).size).toBe(200);
    for (const m of models.slice(0, 5)) expect(jobTag(newJobId(m))).toBe(modelTag(m));
    // An id not made by newJobId still keeps its own keys together.
    expect(new Set([keys.job('custom'), keys.jobEvents('custom')].map(hashTagOf)).size).toBe(1);
  });

  it('refuses a prefix with a brace, which would put the whole fabric in one slot', () => {
    expect(() => createKeys('{fabric}')).toThrow(/FABRIC_PREFIX must not contain/);
  });
});
