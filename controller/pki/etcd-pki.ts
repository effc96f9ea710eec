// The managed etcd's own PKI, laid out as kubeadm lays out its etcd's:
//   pki/etcd/ca.crt ca.key               etcd CA (a separate trust root: the
//                                        cluster CA also signs node certs, and
//                                        a node must never reach etcd)
//   pki/etcd/server.crt server.key       etcd serving cert (loopback SANs)
//   pki/etcd/peer.crt peer.key           etcd peer cert (its peer listener)
//   pki/apiserver-etcd-client.crt .key   the controller's client cert
// Keys are 0600. ensureEtcdPki fills in what is missing: a state dir from
// before etcd had TLS gets it all at its next start, and a leaf that is
// missing, close to expiry or not signed by the CA is issued again.
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { CertAndKey } from './certs.js';
import { issueEcCert, type EcCertRequest } from './ec-certs.js';

/** Validity of the etcd CA and of its leaves, as kubeadm's (10 years, 1 year). */
const CA_DAYS = 3650;
const LEAF_DAYS = 365;
/** A leaf with less left than this is issued again at start. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

export interface EtcdPkiPaths {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  peerCert: string;
  peerKey: string;
  clientCert: string;
  clientKey: string;
}

/** The PEMs a client of the managed etcd presents and trusts. */
export interface EtcdClientCredentials {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** The name the server certificate is checked against (its SANs have it): the endpoints are IPs. */
  serverName: string;
}

export interface EtcdPki {
  paths: EtcdPkiPaths;
  client: EtcdClientCredentials;
  /** Files written by this call (empty when all was there and valid). */
  written: string[];
}

export function etcdPkiPaths(stateDir: string): EtcdPkiPaths {
  const dir = join(stateDir, 'pki', 'etcd');
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    peerCert: join(dir, 'peer.crt'),
    peerKey: join(dir, 'peer.key'),
    clientCert: join(stateDir, 'pki', 'apiserver-etcd-client.crt'),
    clientKey: join(stateDir, 'pki', 'apiserver-etcd-client.key'),
  };
}

function readPair(cert: string, key: string): CertAndKey | undefined {
  if (!existsSync(cert) || !existsSync(key)) return undefined;
  return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

function writePair(pair: CertAndKey, cert: string, key: string, written: string[]): void {
  // Key first and 0600 from its creation; chmod for a file that existed with another mode.
  writeFileSync(key, pair.keyPem, { mode: 0o600 });
  chmodSync(key, 0o600);
  writeFileSync(cert, pair.certPem, { mode: 0o644 });
  chmodSync(cert, 0o644);
  written.push(cert, key);
}

/** A leaf is kept when it parses, is signed by the CA, covers `hosts` and has a month left. */
function leafUsable(pair: CertAndKey, ca: X509Certificate, hosts: string[], nowMs: number): boolean {
  try {
    const c = new X509Certificate(pair.certPem);
    if (!c.verify(ca.publicKey)) return false;
    if (Date.parse(c.validTo) - nowMs < RENEW_BEFORE_MS) return false;
    return hosts.every((h) => (isIP(h) ? c.checkIP(h) : c.checkHost(h)) !== undefined);
  } catch {
    return false;
  }
}

/**
 * Makes sure the etcd CA, server, peer and client certificates exist in the
 * state dir (see the layout above) and returns the client credentials.
 * `hosts` are the addresses etcd listens on (its certs' SANs besides
 * 127.0.0.1, ::1 and localhost).
 */
export function ensureEtcdPki(stateDir: string, opts: { nowMs?: number; hosts?: string[] } = {}): EtcdPki {
  const now = opts.nowMs ?? Date.now();
  const p = etcdPkiPaths(stateDir);
  const written: string[] = [];
  mkdirSync(p.dir, { recursive: true, mode: 0o700 });

  let ca = readPair(p.caCert, p.caKey);
  if (!ca) {
    ca = issueEcCert({ commonName: 'etcd-ca', organization: 'flotilla', nowMs: now, validDays: CA_DAYS, ca: true });
    writePair(ca, p.caCert, p.caKey, written);
  }
  const caCert = new X509Certificate(ca.certPem);
  const hosts = [...new Set(['127.0.0.1', '::1', 'localhost', ...(opts.hosts ?? [])])];
  const leaves: { cert: string; key: string; req: Omit<EcCertRequest, 'nowMs' | 'validDays'> }[] = [
    { cert: p.serverCert, key: p.serverKey, req: { commonName: 'flotilla-etcd', serverAuth: true, clientAuth: true, hosts } },
    { cert: p.peerCert, key: p.peerKey, req: { commonName: 'flotilla-etcd-peer', serverAuth: true, clientAuth: true, hosts } },
    // O=system:masters as kubeadm's apiserver-etcd-client; etcd checks only that the CA signed it.
    { cert: p.clientCert, key: p.clientKey, req: { commonName: 'flotilla-apiserver-etcd-client', organization: 'system:masters', clientAuth: true } },
  ];
  let client: CertAndKey | undefined;
  for (const l of leaves) {
    let pair = readPair(l.cert, l.key);
    if (!pair || !leafUsable(pair, caCert, l.req.hosts ?? [], now)) {
      pair = issueEcCert({ ...l.req, nowMs: now, validDays: LEAF_DAYS }, ca);
      writePair(pair, l.cert, l.key, written);
    }
    if (l.cert === p.clientCert) client = pair;
  }
  return { paths: p, client: { caPem: ca.certPem, certPem: client!.certPem, keyPem: client!.keyPem, serverName: 'localhost' }, written };
}

/** Reads the controller's etcd client credentials (for tools that reach a running managed etcd). */
export function readEtcdClientCredentials(stateDir: string): EtcdClientCredentials | undefined {
  const p = etcdPkiPaths(stateDir);
  const pair = readPair(p.clientCert, p.clientKey);
  if (!pair || !existsSync(p.caCert)) return undefined;
  return { caPem: readFileSync(p.caCert, 'utf8'), ...pair, serverName: 'localhost' };
}
