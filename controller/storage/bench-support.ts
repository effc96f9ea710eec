// The baseline of the API benchmark: N sequential raw etcd puts through the
// etcd3 client, timed the same way as the API's creates (per-call latency and
// throughput), on the same etcd in the same run. Keys go under a throw-away
// prefix that is deleted afterwards.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';

export interface LatencySummary {
  count: number;
  totalMs: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** p-th percentile (0..100) of the values, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function summarize(latenciesMs: number[], totalMs: number): LatencySummary {
  return {
    count: latenciesMs.length,
    totalMs,
    opsPerSecond: totalMs > 0 ? (latenciesMs.length * 1000) / totalMs : 0,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    maxMs: latenciesMs.length ? Math.max(...latenciesMs) : 0,
  };
}

export interface RawPutOptions {
  /** Number of puts; default 1000. */
  count?: number;
  /** The value of each put (e.g. a pod's JSON, to match the API benchmark); default 1 KiB. */
  value?: string | Buffer;
}

/** Times `count` sequential puts of `value` through `client`, then removes the keys. */
export async function timeRawPuts(client: Etcd3, opts: RawPutOptions = {}): Promise<LatencySummary> {
  const count = opts.count ?? 1000;
  const value = opts.value ?? randomBytes(512).toString('hex');
  const prefix = `/flotilla-bench/${randomBytes(6).toString('hex')}/`;
  const lat: number[] = [];
  try {
    // one warm-up put so connection setup is not measured
    await client.put(`${prefix}warmup`).value(value);
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const s = performance.now();
      await client.put(`${prefix}${i}`).value(value);
      lat.push(performance.now() - s);
    }
    return summarize(lat, performance.now() - t0);
  } finally {
    await client.delete().prefix(prefix).catch(() => undefined);
  }
}
