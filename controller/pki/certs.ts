// The cluster CA and the API serving certificate. Keys come from Node's
// crypto (fast, native); node-forge builds and signs the X.509 certificates.
// Output is PEM text; writing files is the caller's business (state-dir.ts).
import forge from 'node-forge';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

function newRsaKeyPem(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  // PKCS#1 ("RSA PRIVATE KEY"): node-forge reads it and so does every TLS stack.
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

function serial(): string {
  // positive, 16 bytes
  return `01${randomBytes(15).toString('hex')}`;
}

/** A self-signed cluster CA (RSA 2048, SHA-256), valid `validDays` from `nowMs`. */
export function generateCa(opts: { commonName?: string; nowMs: number; validDays?: number }): CertAndKey {
  const keyPem = newRsaKeyPem();
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(opts.nowMs - 60_000);
  cert.validity.notAfter = new Date(opts.nowMs + (opts.validDays ?? 3650) * 86_400_000);
  const subject = [
    { name: 'commonName', value: opts.commonName ?? 'flotilla-ca' },
    { name: 'organizationName', value: 'flotilla' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/**
 * A serving certificate for the API (and the agents' gRPC ports) signed by the
 * CA, with the given DNS names and IP addresses as subjectAltNames.
 */
export function issueServingCert(
  ca: CertAndKey,
  opts: { commonName?: string; hosts: string[]; nowMs: number; validDays?: number },
): CertAndKey {
  const keyPem = newRsaKeyPem();
  const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(opts.nowMs - 60_000);
  cert.validity.notAfter = new Date(opts.nowMs + (opts.validDays ?? 365) * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: opts.commonName ?? 'flotilla-apiserver' }]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [...new Set(opts.hosts.filter((h) => h !== ''))].map((h) =>
    isIP(h) ? { type: 7, ip: h } : { type: 2, value: h },
  );
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}
