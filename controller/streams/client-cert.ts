// The controller's client certificate for the agents' logs/exec ports, issued
// from the cluster CA at start and kept only in memory: every replica mints its
// own, nothing to rotate on disk, and it dies with the process.
import forge from 'node-forge';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { CONTROLLER_CLIENT_CN, CONTROLLER_CLIENT_GROUP } from '../../api/streams-protocol.js';
import type { CertAndKey } from '../pki/index.js';

export function issueControllerClientCert(
  ca: CertAndKey,
  opts: { nowMs: number; validDays?: number; commonName?: string } = { nowMs: Date.now() },
): CertAndKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(opts.nowMs - 60_000);
  cert.validity.notAfter = new Date(opts.nowMs + (opts.validDays ?? 365) * 86_400_000);
  cert.setSubject([
    { name: 'commonName', value: opts.commonName ?? CONTROLLER_CLIENT_CN },
    { name: 'organizationName', value: CONTROLLER_CLIENT_GROUP },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}
