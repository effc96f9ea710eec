// ECDSA P-256 certificates. An EC key is made in well under a millisecond,
// an RSA 2048 key in 100-300 ms here, and the etcd PKI needs four of them at
// a controller's first start, so the etcd PKI uses EC keys. node-forge signs
// RSA only: it lays out the TBSCertificate (names, validity, extensions),
// node:crypto supplies the EC public key and the signature.
import forge from 'node-forge';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type { CertAndKey } from './certs.js';

const asn1 = forge.asn1;
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** forge has it, its typings do not. */
interface ForgeTbs {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
}

export interface EcCertRequest {
  commonName: string;
  organization?: string;
  nowMs: number;
  validDays: number;
  /** true: a CA that signs leaves (and nothing below them). */
  ca?: boolean;
  serverAuth?: boolean;
  clientAuth?: boolean;
  /** subjectAltNames: IP addresses and DNS names. */
  hosts?: string[];
}

function newEcKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
}

/** SubjectPublicKeyInfo as forge ASN.1, the BIT STRING left as raw bytes. */
function spkiAsn1(key: KeyObject): forge.asn1.Asn1 {
  const der = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return (asn1.fromDer as unknown as (b: string, o: { decodeBitStrings: boolean }) => forge.asn1.Asn1)(der.toString('binary'), { decodeBitStrings: false });
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdOf(spki: forge.asn1.Asn1): string {
  const bits = (spki.value as forge.asn1.Asn1[])[1]!.value as string;
  return createHash('sha1').update(Buffer.from(bits.slice(1), 'binary')).digest('binary');
}

function names(commonName: string, organization?: string): forge.pki.CertificateField[] {
  return [{ name: 'commonName', value: commonName }, ...(organization ? [{ name: 'organizationName', value: organization }] : [])];
}

function extensionsFor(r: EcCertRequest, subjectKeyId: string, issuerKeyId: string): object[] {
  const octets = (bytes: string) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, bytes);
  const exts: object[] = [
    { name: 'basicConstraints', cA: r.ca === true, ...(r.ca ? { pathLenConstraint: 0 } : {}), critical: true },
    r.ca
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier', value: octets(subjectKeyId) },
  ];
  if (!r.ca) {
    exts.push({ name: 'extKeyUsage', serverAuth: r.serverAuth === true, clientAuth: r.clientAuth === true });
    const aki = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, issuerKeyId)]);
    exts.push({ name: 'authorityKeyIdentifier', value: aki });
  }
  const hosts = [...new Set((r.hosts ?? []).filter(Boolean))];
  if (hosts.length > 0) exts.push({ name: 'subjectAltName', altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) });
  return exts;
}

/** The subject Name of a PEM certificate, as ASN.1 (forge cannot read an EC certificate as a whole). */
function subjectOf(certPem: string): forge.asn1.Asn1 {
  const der = forge.pem.decode(certPem)[0]!.body;
  const tbs = ((asn1.fromDer as unknown as (b: string, o: { decodeBitStrings: boolean }) => forge.asn1.Asn1)(der, { decodeBitStrings: false }).value as forge.asn1.Asn1[])[0]!;
  return (tbs.value as forge.asn1.Asn1[])[5]!;
}

function toPem(der: string): string {
  const b64 = Buffer.from(der, 'binary').toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

/**
 * Issues an EC certificate: self-signed when `issuer` is absent (a CA),
 * otherwise signed by the issuer's EC key.
 */
export function issueEcCert(r: EcCertRequest, issuer?: CertAndKey): CertAndKey {
  const key = newEcKey();
  const spki = spkiAsn1(key);
  const subjectKeyId = keyIdOf(spki);
  const signer = issuer ? createPrivateKey(issuer.keyPem) : key;
  const issuerName = issuer ? subjectOf(issuer.certPem) : undefined;
  const issuerKeyId = issuer ? keyIdOf(spkiAsn1(signer)) : subjectKeyId;

  const cert = forge.pki.createCertificate();
  // forge lays out the TBSCertificate with an RSA key; its key info is replaced below.
  cert.publicKey = forge.pki.setRsaPublicKey(new forge.jsbn.BigInteger('3'), new forge.jsbn.BigInteger('3'));
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(r.nowMs - 60_000);
  cert.validity.notAfter = new Date(r.nowMs + r.validDays * 86_400_000);
  cert.setSubject(names(r.commonName, r.organization));
  cert.setIssuer(names(r.commonName, r.organization)); // a leaf's is replaced by its issuer's subject below
  cert.setExtensions(extensionsFor(r, subjectKeyId, issuerKeyId));
  (cert as unknown as { siginfo: { algorithmOid: string } }).siginfo.algorithmOid = ECDSA_WITH_SHA256;

  // ECDSA's AlgorithmIdentifier has no parameters (RFC 5758 3.2).
  const algorithm = () => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(ECDSA_WITH_SHA256).getBytes())]);
  const tbs = (forge.pki as unknown as ForgeTbs).getTBSCertificate(cert);
  const fields = tbs.value as forge.asn1.Asn1[];
  fields[2] = algorithm();
  if (issuerName) fields[3] = issuerName;
  fields[6] = spki;
  const tbsDer = asn1.toDer(tbs).getBytes();
  const signature = sign('sha256', Buffer.from(tbsDer, 'binary'), signer).toString('binary');
  const certificate = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithm(),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${signature}`),
  ]);
  return { certPem: toPem(asn1.toDer(certificate).getBytes()), keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
