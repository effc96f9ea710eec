import { describe, expect, it } from 'vitest';
import { MetricsRegistry } from '../../api/metrics.js';
import { startDaemonHttp } from '../../api/daemon-http.js';

describe('[metrics] Prometheus registry', () => {
  it('renders counters, gauges and histograms in the text format', () => {
    const r = new MetricsRegistry();
    const c = r.counter('flotilla_requests_total', 'Requests.');
    c.inc({ verb: 'GET', code: 200 });
    c.inc({ verb: 'GET', code: 200 });
    r.gauge('flotilla_pods', 'Pods.').set(3);
    const h = r.histogram('flotilla_latency_seconds', 'Latency.', [0.1, 1]);
    h.observe(0.05);
    h.observe(0.5);
    const text = r.render();
    expect(text).toContain('# TYPE flotilla_requests_total counter');
    expect(text).toContain('flotilla_requests_total{code="200",verb="GET"} 2');
    expect(text).toContain('flotilla_pods 3');
    expect(text).toContain('flotilla_latency_seconds_bucket{le="0.1"} 1');
    expect(text).toContain('flotilla_latency_seconds_bucket{le="+Inf"} 2');
    expect(text).toContain('flotilla_latency_seconds_count 2');
  });

  it('registering a name again returns the same metric (one family), and the latest gauge function wins', () => {
    const r = new MetricsRegistry();
    r.counter('flotilla_binds_total', 'Binds.').inc();
    r.counter('flotilla_binds_total', 'Binds.').inc();
    r.gauge('flotilla_queue', 'Queue.', () => 1);
    r.gauge('flotilla_queue', 'Queue.', () => 7);
    const text = r.render();
    expect(text.match(/# TYPE flotilla_binds_total counter/g)).toHaveLength(1);
    expect(text).toContain('flotilla_binds_total 2');
    expect(text.match(/^flotilla_queue /gm)).toEqual(['flotilla_queue ']);
    expect(text).toContain('flotilla_queue 7');
    expect(() => r.gauge('flotilla_binds_total', 'x')).toThrow('flotilla_binds_total is already registered as a counter');
  });

  it('serves /healthz, /readyz and /metrics over HTTP', async () => {
    const r = new MetricsRegistry().withProcessMetrics();
    let ready = false;
    const srv = await startDaemonHttp({ host: '127.0.0.1', port: 0, metrics: r, healthy: () => true, ready: () => ready });
    try {
      const base = `http://127.0.0.1:${srv.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
      ready = true;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('process_resident_memory_bytes');
    } finally {
      await srv.close();
    }
  });
});
