// The agent's side of logs/exec before the runtime is asked: which pod and
// container a call names, and what the log options mean.
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Pod } from '../../api/index.js';
import { generateCa } from '../../controller/index.js';
import { signNodeCsr } from '../../controller/join/node-certificate.js';
import { issueControllerClientCert } from '../../controller/streams/index.js';
import { createNodeCsr } from '../../node-agent/join/credentials.js';
import { logOptionsOf, resolveTarget, type PodLookup } from '../../node-agent/streams/index.js';

const web: Pod = {
  metadata: { name: 'web', namespace: 'default', uid: 'u1' },
  spec: { initContainers: [{ name: 'setup', image: 'busybox' }], containers: [{ name: 'main', image: 'busybox' }, { name: 'side', image: 'busybox' }] },
} as Pod;
const solo: Pod = { metadata: { name: 'solo', namespace: 'default', uid: 'u2' }, spec: { containers: [{ name: 'only', image: 'busybox' }] } } as Pod;
const pods: PodLookup = { nodeName: 'n1', findPod: (ns, name) => [web, solo].find((p) => p.metadata.namespace === ns && p.metadata.name === name) };

describe('agent stream targets', () => {
  it.each([
    ['a named container', { namespace: 'default', name: 'web', uid: 'u1' }, 'side', 'side'],
    ['an init container', { namespace: 'default', name: 'web', uid: '' }, 'setup', 'setup'],
    ['the only container when none is named', { namespace: 'default', name: 'solo', uid: '' }, '', 'only'],
  ])('resolves %s', (_what, ref, container, want) => {
    expect(resolveTarget(pods, ref, container).container).toBe(want);
  });

  it.each([
    ['a pod it does not hold', { namespace: 'default', name: 'ghost', uid: '' }, 'main', 'NotFound', 'pod "ghost" in namespace "default" is not on node "n1"'],
    ['a pod replaced under the same name', { namespace: 'default', name: 'web', uid: 'old' }, 'main', 'NotFound', 'pod "web" in namespace "default" is not on node "n1"'],
    ['an unknown container', { namespace: 'default', name: 'web', uid: 'u1' }, 'nope', 'NotFound', 'container "nope" not found in pod "web" in namespace "default"'],
    ['no container of several', { namespace: 'default', name: 'web', uid: 'u1' }, '', 'BadRequest', 'a container name must be specified for pod web, choose one of: [main side]'],
    ['no pod name', { namespace: 'default', name: '', uid: '' }, 'main', 'BadRequest', 'pod namespace and name are required'],
  ])('refuses %s', (_what, ref, container, code, message) => {
    expect(() => resolveTarget(pods, ref, container)).toThrow(expect.objectContaining({ code, message }));
  });

  it('keeps only the log options that were set, tail 0 included', () => {
    const signal = new AbortController().signal;
    expect(logOptionsOf({ pod: { namespace: 'a', name: 'b', uid: '' }, container: 'c', follow: true, previous: false, timestamps: false, tailLines: 0 }, signal)).toEqual({
      signal,
      follow: true,
      tailLines: 0,
    });
    expect(logOptionsOf({ pod: { namespace: 'a', name: 'b', uid: '' }, container: 'c', follow: false, previous: true, timestamps: true, sinceSeconds: 30, limitBytes: 10 }, signal)).toEqual({
      signal,
      previous: true,
      timestamps: true,
      sinceSeconds: 30,
      limitBytes: 10,
    });
  });
});

describe('certificates of the logs/exec path', () => {
  it('a node certificate serves TLS as well as authenticating the node, and the controller gets a client-only one', () => {
    const ca = generateCa({ nowMs: Date.now() });
    const csr = createNodeCsr('n1');
    const node = new X509Certificate(signNodeCsr(csr.csrPem, 'n1', ca, Date.now()));
    expect(node.subject).toContain('CN=system:node:n1');
    expect(node.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])); // serverAuth, clientAuth
    const ctl = new X509Certificate(issueControllerClientCert(ca, { nowMs: Date.now() }).certPem);
    expect(ctl.subject).toBe('CN=system:flotilla-controller\nO=system:masters');
    expect(ctl.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(ctl.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
  });
});
