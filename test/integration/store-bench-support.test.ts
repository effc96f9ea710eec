// The raw-put baseline of the API benchmark, against a real etcd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { percentile, timeRawPuts } from '../../controller/index.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

let etcd: TestEtcd;
let client: Etcd3;

describe('raw etcd put baseline', () => {
  beforeAll(async () => {
    requireRoot('store-bench-support');
    requireBinaries('store-bench-support', 'etcd');
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoints });
  });

  afterAll(async () => {
    client?.close();
    await etcd?.stop();
  });

  it('times sequential puts and leaves no keys behind', async () => {
    const r = await timeRawPuts(client, { count: 200, value: JSON.stringify({ kind: 'Pod', metadata: { name: 'x' } }) });
    expect(r.count).toBe(200);
    expect(r.opsPerSecond).toBeGreaterThan(0);
    expect(r.p50Ms).toBeGreaterThan(0);
    expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
    expect(r.maxMs).toBeGreaterThanOrEqual(r.p99Ms);
    const left = await client.getAll().prefix('/flotilla-bench/').keys();
    expect(left).toEqual([]);
  });

  it('percentiles are nearest-rank', () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBe(0);
  });
});
