// The name server's metrics, in the agent's MetricsRegistry (its /metrics):
// what CoreDNS's prometheus and cache plugins count, under our own names.
import type { Counter, Histogram, MetricsRegistry } from '../../api/metrics.js';

/** Types counted by name; anything else is `other`, so a client cannot grow the series without bound. */
const COUNTED_TYPES = new Set(['A', 'AAAA', 'CNAME', 'MX', 'NS', 'PTR', 'SOA', 'SRV', 'TXT', 'ANY', 'HTTPS', 'SVCB', 'CAA']);
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class DnsMetrics {
  private readonly requests: Counter;
  private readonly responses: Counter;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;
  private readonly latency: Histogram;
  /** Series handles by label, so the hot path does not build label keys. */
  private readonly reqBy = new Map<string, { inc(by?: number): void }>();
  private readonly rcodeBy = new Map<string, { inc(by?: number): void }>();

  constructor(registry: MetricsRegistry) {
    this.requests = registry.counter('flotilla_dns_requests_total', 'DNS queries received by the node\'s name server, by query type and transport.');
    this.responses = registry.counter('flotilla_dns_responses_total', 'DNS answers sent by the node\'s name server, by rcode.');
    this.cacheHits = registry.counter('flotilla_dns_cache_hits_total', 'Forwarded names answered from the cache, by kind (success or denial).');
    this.cacheMisses = registry.counter('flotilla_dns_cache_misses_total', 'Forwarded names not in the cache (sent to an upstream resolver).');
    this.latency = registry.histogram('flotilla_dns_request_duration_seconds', 'Time from a DNS query\'s arrival to its answer, in seconds.', LATENCY_BUCKETS);
  }

  request(type: string, proto: 'udp' | 'tcp'): void {
    const t = COUNTED_TYPES.has(type) ? type : 'other';
    const k = `${t}|${proto}`;
    let s = this.reqBy.get(k);
    if (!s) this.reqBy.set(k, (s = this.requests.with({ type: t, proto })));
    s.inc();
  }

  response(rcode: string, seconds: number): void {
    let s = this.rcodeBy.get(rcode);
    if (!s) this.rcodeBy.set(rcode, (s = this.responses.with({ rcode })));
    s.inc();
    this.latency.observe(seconds);
  }

  cacheHit(kind: 'success' | 'denial'): void {
    this.cacheHits.inc({ kind });
  }

  cacheMiss(): void {
    this.cacheMisses.inc();
  }
}
