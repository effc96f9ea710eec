// GetConfigObject, the node service call agents read their pods' ConfigMaps and
// Secrets with: the real gRPC node port (mutual TLS, node certificates signed by
// the cluster CA) over a real etcd-backed Store (Secrets encrypted at rest), and
// the node restriction — a node reads an object only for a pod bound to it that
// references it; anything else is PERMISSION_DENIED naming the object.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type ConfigMap, type Pod, type Secret } from '../../api/index.js';
import { nodeServiceDefinition } from '../../api/agent-protocol.js';
import { AesGcmTransformer, EtcdStore, createEtcdClient, generateCa, generateEncryptionKey, issueServingCert, toEncryptionKeys } from '../../controller/index.js';
import { startAgentServers, type AgentServers } from '../../controller/agentapi/server.js';
import { signNodeCsr } from '../../controller/join/node-certificate.js';
import { ControllerCallError, ControllerClient } from '../../node-agent/controller-client.js';
import { createNodeCsr, type NodeCredential } from '../../node-agent/join/credentials.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireBinaries } from '../helpers/require.js';

const NS = 'cfg-rpc';
let etcd: TestEtcd;
let store: EtcdStore;
let servers: AgentServers;
let ca: ReturnType<typeof generateCa>;
const clients: ControllerClient[] = [];
const creds = new Map<string, NodeCredential>();

function clientFor(node: string): ControllerClient {
  const c = new ControllerClient(creds.get(node)!);
  clients.push(c);
  return c;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

async function createPod(name: string, node: string | undefined, spec: Partial<Pod['spec']>): Promise<Pod> {
  return store.create<Pod>('pods', {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: { ...(node ? { nodeName: node } : {}), containers: [{ name: 'c', image: 'busybox' }], ...spec },
  });
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ControllerCallError);
  return { code: (e as ControllerCallError).code, message: (e as Error).message };
}

beforeAll(async () => {
  requireBinaries('the node config RPC suite', 'etcd');
  etcd = await startEtcd();
  store = new EtcdStore({
    endpoints: etcd.endpoints,
    log: silentLogger(),
    encryption: new AesGcmTransformer(toEncryptionKeys([generateEncryptionKey()])),
  });
  ca = generateCa({ nowMs: Date.now() });
  const serving = issueServingCert(ca, { hosts: ['127.0.0.1', 'localhost'], nowMs: Date.now() });
  servers = await startAgentServers({
    host: '127.0.0.1',
    nodePort: 0,
    bootstrapPort: 0,
    servingCertPem: serving.certPem,
    servingKeyPem: serving.keyPem,
    store,
    tokens: { get: async () => undefined },
    ca,
    log: silentLogger(),
  });
  for (const node of ['cfg-n1', 'cfg-n2']) {
    const { csrPem, keyPem } = createNodeCsr(node);
    creds.set(node, {
      nodeName: node,
      server: `127.0.0.1:${servers.nodePort}`,
      bootstrapServer: `127.0.0.1:${servers.bootstrapPort}`,
      caPem: ca.certPem,
      keyPem,
      certPem: signNodeCsr(csrPem, node, ca, Date.now()),
    });
  }
  await store.create<ConfigMap>('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: NS }, data: { mode: 'fast' } });
  await store.create<ConfigMap>('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unrelated', namespace: NS }, data: { x: '1' } });
  await store.create<Secret>('secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: NS }, type: 'Opaque', data: { password: b64('s3cret') } });
  await createPod('web', 'cfg-n1', {
    containers: [{ name: 'c', image: 'busybox', env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }],
    volumes: [
      { name: 'cfg', configMap: { name: 'app-config' } },
      { name: 'later', configMap: { name: 'not-yet' } },
    ],
  });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await servers?.stop();
  await store?.close();
  await etcd?.stop();
});

describe('[agentapi] GetConfigObject: ConfigMaps and Secrets for the pods of a node', () => {
  it('a node reads the ConfigMap and the Secret its pod references; the Secret is plaintext to it and encrypted in etcd', async () => {
    const n1 = clientFor('cfg-n1');
    const pod = await store.get<Pod>({ resource: 'pods', namespace: NS, name: 'web' });
    const cm = await n1.getConfigObject<ConfigMap>('configmaps', NS, 'app-config', pod);
    expect(cm).toMatchObject({ kind: 'ConfigMap', metadata: { name: 'app-config', namespace: NS }, data: { mode: 'fast' } });
    const s = await n1.getConfigObject<Secret>('secrets', NS, 'db', pod);
    expect(Buffer.from(s!.data!.password!, 'base64').toString()).toBe('s3cret');
    const raw = createEtcdClient({ endpoints: etcd.endpoints });
    try {
      const stored = await raw.get(`/flotilla/secrets/${NS}/db`).buffer();
      expect(stored).not.toBeNull();
      expect(stored!.toString('latin1')).not.toContain(b64('s3cret'));
    } finally {
      raw.close();
    }
  });

  it('an object the pod does not reference is PERMISSION_DENIED, naming the object', async () => {
    const n1 = clientFor('cfg-n1');
    const pod = await store.get<Pod>({ resource: 'pods', namespace: NS, name: 'web' });
    expect(await refusal(n1.getConfigObject('configmaps', NS, 'unrelated', pod))).toEqual({
      code: 'Forbidden',
      message: `node "cfg-n1" may not read configmap ${NS}/unrelated: no pod bound to that node references it (pod ${NS}/web does not)`,
    });
    // The Secret of the same name as a referenced ConfigMap is another object.
    expect((await refusal(n1.getConfigObject('secrets', NS, 'app-config', pod))).message).toContain(`may not read secret ${NS}/app-config`);
  });

  it("another node may not read them for a pod that is not bound to it — and gets the gRPC status PERMISSION_DENIED", async () => {
    const n2 = clientFor('cfg-n2');
    const pod = await store.get<Pod>({ resource: 'pods', namespace: NS, name: 'web' });
    expect(await refusal(n2.getConfigObject('secrets', NS, 'db', pod))).toEqual({
      code: 'Forbidden',
      message: `node "cfg-n2" may not read secret ${NS}/db: pod ${NS}/web is not bound to that node`,
    });
    // The status on the wire, as any gRPC client sees it.
    const cred = creds.get('cfg-n2')!;
    const { Client } = nodeServiceDefinition();
    const raw = new Client(cred.server, grpc.credentials.createSsl(Buffer.from(cred.caPem), Buffer.from(cred.keyPem), Buffer.from(cred.certPem))) as unknown as Record<
      string,
      (req: unknown, cb: (err: grpc.ServiceError | null) => void) => void
    > &
      grpc.Client;
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => raw.GetConfigObject!({ resource: 'secrets', namespace: NS, name: 'db', pod: { namespace: NS, name: 'web' } }, resolve));
      expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err?.details).toContain(`secret ${NS}/db`);
      const none = await new Promise<grpc.ServiceError | null>((resolve) => raw.GetConfigObject!({ resource: 'secrets', namespace: NS, name: 'db' }, resolve));
      expect(none?.code).toBe(grpc.status.INVALID_ARGUMENT);
      const elsewhere = await new Promise<grpc.ServiceError | null>((resolve) => raw.GetConfigObject!({ resource: 'secrets', namespace: 'default', name: 'db', pod: { namespace: NS, name: 'web' } }, resolve));
      expect(elsewhere?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(elsewhere?.details).toBe(`node "cfg-n2" may not read secret default/db for pod ${NS}/web: a pod references objects of its own namespace only`);
      const other = await new Promise<grpc.ServiceError | null>((resolve) => raw.GetConfigObject!({ resource: 'pods', namespace: NS, name: 'web', pod: { name: 'web' } }, resolve));
      expect(other?.code).toBe(grpc.status.INVALID_ARGUMENT);
    } finally {
      raw.close();
    }
  });

  it('a referenced object that does not exist yet is NOT_FOUND (undefined to the agent), then found once created; an update is read at once', async () => {
    const n1 = clientFor('cfg-n1');
    const pod = await store.get<Pod>({ resource: 'pods', namespace: NS, name: 'web' });
    expect(await n1.getConfigObject('configmaps', NS, 'not-yet', pod)).toBeUndefined();
    await store.create<ConfigMap>('configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-yet', namespace: NS }, data: { k: 'v1' } });
    expect((await n1.getConfigObject<ConfigMap>('configmaps', NS, 'not-yet', pod))?.data).toEqual({ k: 'v1' });
    await store.guaranteedUpdate<ConfigMap>({ resource: 'configmaps', namespace: NS, name: 'not-yet' }, (c) => ({ ...c, data: { k: 'v2' } }));
    expect((await n1.getConfigObject<ConfigMap>('configmaps', NS, 'not-yet', pod))?.data).toEqual({ k: 'v2' });
  });

  it('with the pod watch open (the feed holds the pod) the same rules hold; a deleted or replaced pod no longer grants anything', async () => {
    const n1 = clientFor('cfg-n1');
    const ac = new AbortController();
    const events: string[] = [];
    void (async () => {
      for await (const ev of n1.watchPods(ac.signal)) events.push(`${ev.type} ${ev.pod.metadata?.name ?? ''}`);
    })().catch(() => undefined);
    // The feed sends an event after it applied it: once the agent has it, the feed's copy is current.
    const seen = async (ev: string) => {
      const end = Date.now() + 10_000;
      while (!events.includes(ev)) {
        if (Date.now() > end) throw new Error(`no "${ev}" on the pod watch (got ${events.join(', ')})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      events.splice(events.indexOf(ev), 1);
    };
    await seen('SYNC ');
    expect(events).toContain('ADDED web');
    const pod = await createPod('short', 'cfg-n1', { volumes: [{ name: 'cfg', configMap: { name: 'unrelated' } }] });
    await seen('ADDED short');
    expect((await n1.getConfigObject<ConfigMap>('configmaps', NS, 'unrelated', pod))?.data).toEqual({ x: '1' });
    await store.delete({ resource: 'pods', namespace: NS, name: 'short' });
    await seen('DELETED short');
    expect((await refusal(n1.getConfigObject('configmaps', NS, 'unrelated', pod))).message).toBe(
      `node "cfg-n1" may not read configmap ${NS}/unrelated: pod ${NS}/short (named in the request) does not exist`,
    );
    await createPod('short', 'cfg-n1', { volumes: [{ name: 'cfg', configMap: { name: 'unrelated' } }] });
    await seen('ADDED short');
    expect((await refusal(n1.getConfigObject('configmaps', NS, 'unrelated', pod))).message).toContain(`pod ${NS}/short with uid ${pod.metadata.uid} does not exist (it was replaced)`);
    // An unscheduled pod grants nothing either.
    const pending = await createPod('pending', undefined, { volumes: [{ name: 'cfg', configMap: { name: 'app-config' } }] });
    expect((await refusal(n1.getConfigObject('configmaps', NS, 'app-config', pending))).message).toContain('is not bound to that node');
    ac.abort();
  });
});
