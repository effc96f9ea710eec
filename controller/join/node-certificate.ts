// Node credentials: the controller signs a node's CSR with the cluster CA after
// the node proved a bootstrap token. The certificate names the node
// (CN=system:node:<name>, O=system:nodes). It is a TLS client certificate (the
// agent calls the controller) and a server one (the controller calls the
// agent's logs/exec port, checking the CN instead of a host name).
import forge from 'node-forge';
import { randomBytes } from 'node:crypto';
import { BadRequestError, ForbiddenError } from '../../api/index.js';

export const NODE_CN_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
const NODE_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function validateNodeName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 253 || !NODE_NAME_RE.test(name)) {
    throw new BadRequestError(
      `invalid node name "${name}": must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.'), at most 253 characters`,
    );
  }
}

export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

/** Signs `csrPem` for `nodeName`; refuses a CSR whose subject names another node. */
export function signNodeCsr(csrPem: string, nodeName: string, ca: CaMaterial, nowMs: number, validDays = 365): string {
  validateNodeName(nodeName);
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch {
    throw new BadRequestError('invalid certificate signing request: not a PEM-encoded PKCS#10 request');
  }
  if (!csr.verify()) throw new BadRequestError('invalid certificate signing request: signature does not verify');
  const cn = csr.subject.getField('CN')?.value as string | undefined;
  if (cn !== `${NODE_CN_PREFIX}${nodeName}`) {
    throw new ForbiddenError(`certificate request for "${cn ?? ''}" does not match node "${nodeName}" (expected CN=${NODE_CN_PREFIX}${nodeName})`);
  }
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = csr.publicKey as forge.pki.PublicKey;
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(nowMs - 60_000);
  cert.validity.notAfter = new Date(nowMs + validDays * 86_400_000);
  cert.setSubject([
    { name: 'commonName', value: `${NODE_CN_PREFIX}${nodeName}` },
    { name: 'organizationName', value: NODES_GROUP },
  ]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', clientAuth: true, serverAuth: true },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** The node name a verified client certificate speaks for, or undefined. */
export function nodeNameFromSubjectCN(cn: string | undefined): string | undefined {
  if (!cn || !cn.startsWith(NODE_CN_PREFIX)) return undefined;
  return cn.slice(NODE_CN_PREFIX.length);
}
