// `flotilla-agent join`: verify the controller against the CA pin, trade the
// bootstrap token for a node certificate, keep it in the state dir.
import { BadRequestError, type Logger } from '../../api/index.js';
import { parseCaPin } from '../../api/ca-pin.js';
import { joinCall } from '../controller-client.js';
import { createNodeCsr, loadCredential, saveCredential, type NodeCredential } from './credentials.js';
import { fetchPinnedCa } from './pinned-ca.js';

export interface JoinOptions {
  /** The controller's bootstrap address HOST:PORT, as printed by `flotilla-controller init`. */
  server: string;
  token: string;
  caHash: string;
  nodeName: string;
  stateDir: string;
  log: Logger;
  /** Precomputed key + CSR (hollow nodes share one key to skip key generation). */
  csr?: { csrPem: string; keyPem: string };
}

export async function joinCluster(o: JoinOptions): Promise<NodeCredential> {
  parseCaPin(o.caHash);
  if (!/^([a-z0-9]{6})\.([a-z0-9]{16})$/.test(o.token)) {
    throw new BadRequestError('invalid --token: expected the form [a-z0-9]{6}.[a-z0-9]{16}');
  }
  const caPem = await fetchPinnedCa(o.server, o.caHash);
  o.log.info({ server: o.server }, 'controller CA matches the pin');
  const { csrPem, keyPem } = o.csr ?? createNodeCsr(o.nodeName);
  const res = await joinCall(o.server, caPem, { token: o.token, nodeName: o.nodeName, csrPem });
  const host = o.server.replace(/:\d+$/, '');
  const cred: NodeCredential = {
    nodeName: o.nodeName,
    server: `${host}:${res.nodePort}`,
    bootstrapServer: o.server,
    caPem,
    certPem: res.certificatePem,
    keyPem,
  };
  await saveCredential(o.stateDir, cred);
  o.log.info({ node: o.nodeName, server: cred.server }, 'joined the cluster; credential saved');
  return cred;
}

/** The saved credential, or a join with the token when there is none yet. */
export async function credentialFor(o: Partial<JoinOptions> & { stateDir: string; log: Logger }): Promise<NodeCredential> {
  const saved = await loadCredential(o.stateDir);
  if (saved && (!o.nodeName || saved.nodeName === o.nodeName)) return saved;
  if (!o.server || !o.token || !o.caHash || !o.nodeName) {
    throw new BadRequestError(
      `no node credential in ${o.stateDir}: join first with --server HOST:PORT --token TOKEN --ca-hash sha256:HASH`,
    );
  }
  return joinCluster(o as JoinOptions);
}
