// The managed etcd's PKI (controller/pki/etcd-pki.ts): its layout, what the
// certificates allow, and that a TLS stack accepts them.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { etcdArgs } from '../../controller/etcd/index.js';
import { ensureEtcdPki, etcdPkiPaths, readEtcdClientCredentials } from '../../controller/pki/etcd-pki.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-etcd-pki-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const cert = (f: string) => new X509Certificate(readFileSync(f));

/**
 * A TLS exchange with a server that, as etcd with --client-cert-auth, requires a
 * client certificate signed by `server.ca`: what the client read, and why the server refused.
 */
async function handshake(server: { cert: string; key: string; ca: string }, client: { ca: string; cert?: string; key?: string; servername?: string }): Promise<{ got: string; refused?: string }> {
  let refused: string | undefined;
  // TLS 1.2: the server refuses during the handshake, so its reason is deterministic.
  const srv = createServer({ ...server, requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.2' }, (s) => s.end('ok'));
  srv.on('tlsClientError', (e) => (refused = e.message));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  try {
    const got = await new Promise<string>((resolve) => {
      const s: TLSSocket = connect({ host: '127.0.0.1', port, ...client });
      let data = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (data += d));
      s.on('close', () => resolve(data));
      s.on('error', () => undefined);
    });
    return { got, ...(refused ? { refused } : {}) };
  } finally {
    srv.close();
  }
}

describe('managed etcd PKI', () => {
  it('lays out an etcd CA, server, peer and apiserver-etcd-client certificate as kubeadm does, keys 0600', () => {
    const dir = tmp();
    const pki = ensureEtcdPki(dir);
    const p = etcdPkiPaths(dir);
    expect(p.caCert).toBe(join(dir, 'pki', 'etcd', 'ca.crt'));
    expect(p.clientCert).toBe(join(dir, 'pki', 'apiserver-etcd-client.crt'));
    expect(pki.written.sort()).toEqual([p.caCert, p.caKey, p.serverCert, p.serverKey, p.peerCert, p.peerKey, p.clientCert, p.clientKey].sort());
    for (const k of [p.caKey, p.serverKey, p.peerKey, p.clientKey]) expect(statSync(k).mode & 0o777).toBe(0o600);
    expect(statSync(p.dir).mode & 0o777).toBe(0o700);

    const ca = cert(p.caCert);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toContain('CN=etcd-ca');
    for (const f of [p.serverCert, p.peerCert, p.clientCert]) {
      const c = cert(f);
      expect(c.ca).toBe(false);
      expect(c.verify(ca.publicKey)).toBe(true);
      expect(c.checkIssued(ca)).toBe(true);
    }
    const server = cert(p.serverCert);
    expect(server.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(server.subjectAltName).toContain('DNS:localhost');
    expect(server.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    const client = cert(p.clientCert);
    expect(client.subject).toContain('CN=flotilla-apiserver-etcd-client');
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(readEtcdClientCredentials(dir)).toEqual(pki.client);
  });

  it('is kept as it is on the next start, and a missing or foreign leaf is issued again', () => {
    const dir = tmp();
    const first = ensureEtcdPki(dir);
    const p = etcdPkiPaths(dir);
    const caPem = readFileSync(p.caCert, 'utf8');
    expect(ensureEtcdPki(dir).written).toEqual([]);

    unlinkSync(p.peerKey);
    expect(ensureEtcdPki(dir).written.sort()).toEqual([p.peerCert, p.peerKey].sort());

    // a server cert signed by another CA (a copied-in file) is replaced; the CA stays
    const otherDir = tmp();
    ensureEtcdPki(otherDir);
    writeFileSync(p.serverCert, readFileSync(etcdPkiPaths(otherDir).serverCert));
    expect(ensureEtcdPki(dir).written.sort()).toEqual([p.serverCert, p.serverKey].sort());
    expect(readFileSync(p.caCert, 'utf8')).toBe(caPem);
    expect(readEtcdClientCredentials(dir)).toEqual(first.client);
  });

  it('a leaf within 30 days of expiry is issued again at start', () => {
    const dir = tmp();
    const p = etcdPkiPaths(dir);
    ensureEtcdPki(dir, { nowMs: Date.now() - 340 * 86_400_000 });
    const before = cert(p.clientCert).serialNumber;
    const again = ensureEtcdPki(dir);
    expect(again.written).toContain(p.clientCert);
    expect(cert(p.clientCert).serialNumber).not.toBe(before);
    expect(Date.parse(cert(p.clientCert).validTo)).toBeGreaterThan(Date.now() + 300 * 86_400_000);
  });

  it('TLS accepts the client certificate and refuses a connection without one', async () => {
    const dir = tmp();
    const p = etcdPkiPaths(dir);
    const { client } = ensureEtcdPki(dir);
    const server = { cert: readFileSync(p.serverCert, 'utf8'), key: readFileSync(p.serverKey, 'utf8'), ca: client.caPem };
    expect(await handshake(server, { ca: client.caPem, cert: client.certPem, key: client.keyPem, servername: 'localhost' })).toEqual({ got: 'ok' });
    const anonymous = await handshake(server, { ca: client.caPem });
    expect(anonymous.got).toBe('');
    expect(anonymous.refused).toMatch(/peer did not return a certificate/);
    // a certificate of another CA (the cluster CA signs node certificates) is refused too: only the etcd CA is trusted
    const foreign = ensureEtcdPki(tmp()).client;
    const stranger = await handshake(server, { ca: client.caPem, cert: foreign.certPem, key: foreign.keyPem });
    expect(stranger.got).toBe('');
    // (both CAs are named etcd-ca: OpenSSL drops the connection on the bad signature, no clearer reason)
    expect(stranger.refused).toBeDefined();
  });

  it('etcd gets https URLs and client-certificate auth on its client and peer ports', () => {
    const p = etcdPkiPaths('/state');
    const args = etcdArgs({ name: 'f', dataDir: '/d', host: '127.0.0.1', ports: { client: 1, peer: 2 }, autoCompactionRetention: '10m', quotaBackendBytes: 1, maxRequestBytes: 1, tls: p });
    const flag = (f: string) => args[args.indexOf(f) + 1];
    expect(flag('--listen-client-urls')).toBe('https://127.0.0.1:1');
    expect(flag('--listen-peer-urls')).toBe('https://127.0.0.1:2');
    expect(args).toContain('--client-cert-auth');
    expect(args).toContain('--peer-client-cert-auth');
    expect(flag('--trusted-ca-file')).toBe('/state/pki/etcd/ca.crt');
    expect(flag('--cert-file')).toBe('/state/pki/etcd/server.crt');
    expect(flag('--key-file')).toBe('/state/pki/etcd/server.key');
    expect(flag('--peer-trusted-ca-file')).toBe('/state/pki/etcd/ca.crt');
    expect(flag('--peer-cert-file')).toBe('/state/pki/etcd/peer.crt');
    const plain = etcdArgs({ name: 'f', dataDir: '/d', host: '127.0.0.1', ports: { client: 1, peer: 2 }, autoCompactionRetention: '10m', quotaBackendBytes: 1, maxRequestBytes: 1 });
    expect(plain[plain.indexOf('--listen-client-urls') + 1]).toBe('http://127.0.0.1:1');
    expect(plain).not.toContain('--client-cert-auth');
  });
});
