// The small HTTP endpoint every daemon serves: /healthz, /readyz and /metrics.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsRegistry } from './metrics.js';

export interface DaemonHttpOptions {
  host: string;
  port: number;
  metrics: MetricsRegistry;
  healthy: () => boolean;
  ready?: () => boolean;
}

export interface DaemonHttp {
  port: number;
  close(): Promise<void>;
}

export function startDaemonHttp(o: DaemonHttpOptions): Promise<DaemonHttp> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (ok: boolean) => {
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok' : 'not ok');
    };
    if (path === '/healthz' || path === '/livez') return answer(o.healthy());
    if (path === '/readyz') return answer((o.ready ?? o.healthy)());
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      return res.end(o.metrics.render());
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}
