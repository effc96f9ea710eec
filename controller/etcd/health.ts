// etcd's /health over its client URL: plain, or https with the client
// certificate (with --client-cert-auth etcd asks for one on every request).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { EtcdClientTls } from '../storage/etcd-store.js';

/** true when `endpoint` answers /health with {"health":"true"}; never throws. */
export function etcdHealthy(endpoint: string, tls?: EtcdClientTls, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const url = new URL('/health', endpoint);
    const https = url.protocol === 'https:';
    const opts = {
      timeout: timeoutMs,
      agent: false as const,
      ...(https && tls ? { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem } : {}),
    };
    const req = (https ? httpsRequest : httpRequest)(url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 && (JSON.parse(body) as { health?: string }).health === 'true');
        } catch {
          resolve(false);
        }
      });
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
