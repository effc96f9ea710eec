// The agent's side of joining: a key pair and CSR for CN=system:node:<name>,
// and the credential files kept in the state dir so restarts need no token.
import { createRequire } from 'node:module';

type Forge = typeof import('node-forge');
/** node-forge is loaded only to make a CSR (at join): it would otherwise sit in every agent's RSS. */
const loadForge = (): Forge => createRequire(import.meta.url)('node-forge') as Forge;
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';

export interface NodeCredential {
  nodeName: string;
  server: string;
  /** Bootstrap (join) endpoint, host:port. */
  bootstrapServer: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

export function createNodeCsr(nodeName: string): { csrPem: string; keyPem: string } {
  const forge = loadForge();
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = keys.publicKey;
  csr.setSubject([
    { name: 'commonName', value: `system:node:${nodeName}` },
    { name: 'organizationName', value: 'system:nodes' },
  ]);
  csr.sign(keys.privateKey, forge.md.sha256.create());
  return { csrPem: forge.pki.certificationRequestToPem(csr), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

const FILE = 'node-credential.json';

export async function saveCredential(stateDir: string, cred: NodeCredential): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const tmp = join(stateDir, `.${FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(cred, null, 2), { mode: 0o600 });
  await rename(tmp, join(stateDir, FILE));
}

export async function loadCredential(stateDir: string): Promise<NodeCredential | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, FILE), 'utf8')) as NodeCredential;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
