// Joining nodes against the real controller (its managed etcd, its gRPC agent
// ports, mutual TLS): the pinned CA, bootstrap tokens, node credentials, the
// node restriction, heartbeats and the node lifecycle (NotReady, NodeLost,
// Ready again), bootstrap tokens through flotctl, and hollow nodes running pods.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { Agent as HttpsAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Node, type Pod } from '../../api/index.js';
import { Agent } from '../../node-agent/agent.js';
import { ControllerClient } from '../../node-agent/controller-client.js';
import { HollowRuntime } from '../../node-agent/hollow-runtime.js';
import { credentialFor, joinCluster } from '../../node-agent/join/join.js';
import { ControllerSubnetManager } from '../../node-agent/network/subnet-client.js';
import type { NodeCredential } from '../../node-agent/join/credentials.js';
import { startController, type StartedController } from '../helpers/controller.js';
import { eventually, flotctl } from '../helpers/flotctl.js';
import { REPO_ROOT } from '../helpers/lab.js';
import { requireBinaries } from '../helpers/require.js';

const log = silentLogger();
let ctl: StartedController;
let work: string;
const agents: Agent[] = [];
const children: ChildProcess[] = [];

async function api<T>(path: string, init: { method?: string; body?: unknown; contentType?: string; cred?: NodeCredential } = {}): Promise<{ status: number; body: T }> {
  const dispatcher = new HttpsAgent({
    connect: {
      ca: readFileSync(ctl.caFile),
      ...(init.cred ? { cert: init.cred.certPem, key: init.cred.keyPem } : {}),
    },
  });
  try {
    const res = await request(`${ctl.server}${path}`, {
      method: (init.method ?? 'GET') as 'GET',
      dispatcher,
      headers: {
        ...(init.cred ? {} : { authorization: `Bearer ${ctl.token}` }),
        ...(init.body !== undefined ? { 'content-type': init.contentType ?? 'application/json' } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
  } finally {
    await dispatcher.close();
  }
}

const getNode = async (name: string) => (await api<Node>(`/api/v1/nodes/${name}`)).body;
const readyOf = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status;

async function joinAndStart(name: string, opts: { heartbeatMs?: number } = {}): Promise<{ agent: Agent; cred: NodeCredential; stateDir: string }> {
  const stateDir = join(work, name);
  const cred = await joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: ctl.caHash, nodeName: name, stateDir, log });
  const agent = await startAgent(cred, opts);
  return { agent, cred, stateDir };
}

async function startAgent(cred: NodeCredential, opts: { heartbeatMs?: number } = {}): Promise<Agent> {
  const agent = new Agent({ client: new ControllerClient(cred), runtime: new HollowRuntime('10.250.7'), nodeIP: '10.201.7.1', log, heartbeatMs: opts.heartbeatMs ?? 500 });
  await agent.start();
  agents.push(agent);
  return agent;
}

async function stopAgent(a: Agent): Promise<void> {
  agents.splice(agents.indexOf(a), 1);
  await a.stop();
}

const podManifest = (name: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default' },
  spec: { containers: [{ name: 'main', image: 'busybox' }], ...extra },
});

beforeAll(async () => {
  requireBinaries('join tests', 'etcd');
  work = mkdtempSync(join(tmpdir(), 'flotilla-join-'));
  ctl = await startController({ runArgs: ['--node-monitor-grace-period', '3', '--pod-eviction-timeout', '3'] });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(agents.map((a) => a.stop()));
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await ctl?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('[join] nodes join with a bootstrap token and a pinned CA', () => {
  it('init printed a join command with the token, the CA pin and the bootstrap port', () => {
    expect(ctl.joinCommand).toMatch(/^flotilla-agent join --server \S+:\d+ --token [a-z0-9]{6}\.[a-z0-9]{16} --ca-hash sha256:[0-9a-f]{64}$/);
    expect(ctl.joinCommand).toContain(ctl.joinToken);
    expect(ctl.joinCommand).toContain(ctl.caHash);
  });

  it('an agent joins, gets a node credential and registers a Ready node with capacity and addresses', async () => {
    const { cred, stateDir } = await joinAndStart('node-a');
    const cert = new (await import('node:crypto')).X509Certificate(cred.certPem);
    expect(cert.subject).toContain('CN=system:node:node-a');
    expect(cert.checkIssued(new (await import('node:crypto')).X509Certificate(readFileSync(ctl.caFile)))).toBe(true);
    const n = await getNode('node-a');
    expect(readyOf(n)).toBe('True');
    expect(Number(n.status?.capacity?.cpu)).toBeGreaterThan(0);
    expect(n.status?.capacity?.pods).toBe('110');
    expect(n.status?.capacity?.memory).toMatch(/^\d+Ki$/);
    expect(n.status?.addresses).toContainEqual({ type: 'InternalIP', address: '10.201.7.1' });
    // The credential is kept: a restart needs no token.
    const again = await credentialFor({ stateDir, log });
    expect(again.certPem).toBe(cred.certPem);
  });

  it('refuses a controller whose CA does not match the pin, before sending the token', async () => {
    const wrongPin = `sha256:${'0'.repeat(64)}`;
    await expect(joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: wrongPin, nodeName: 'node-pin', stateDir: join(work, 'pin'), log })).rejects.toThrow(
      /does not match|pin/i,
    );
    expect((await api(`/api/v1/nodes/node-pin`)).status).toBe(404);
  });

  it('refuses a wrong or malformed bootstrap token with a clear error', async () => {
    const bad = `${ctl.joinToken.slice(0, 7)}${'x'.repeat(16)}`;
    await expect(joinCluster({ server: ctl.bootstrapAddress, token: bad, caHash: ctl.caHash, nodeName: 'node-bad', stateDir: join(work, 'bad'), log })).rejects.toThrow(
      /bootstrap token is not valid or has expired/,
    );
    await expect(joinCluster({ server: ctl.bootstrapAddress, token: 'nope', caHash: ctl.caHash, nodeName: 'node-bad', stateDir: join(work, 'bad'), log })).rejects.toThrow(
      /invalid --token/,
    );
    expect((await api(`/api/v1/nodes/node-bad`)).status).toBe(404);
  });

  it('refuses a second node with the name of a Ready node, and lets a deleted node join again', async () => {
    await expect(
      joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: ctl.caHash, nodeName: 'node-a', stateDir: join(work, 'dup'), log }),
    ).rejects.toThrow(/node "node-a" already exists and is Ready/);

    const { agent } = await joinAndStart('node-re');
    await stopAgent(agent);
    expect((await api(`/api/v1/nodes/node-re`, { method: 'DELETE' })).status).toBe(200);
    const second = await joinAndStart('node-re');
    expect(readyOf(await getNode('node-re'))).toBe('True');
    await stopAgent(second.agent);
  });
});

describe('[join] node restriction: a node credential writes only what is its own', () => {
  let cred: NodeCredential;
  beforeAll(async () => {
    cred = (await credentialFor({ stateDir: join(work, 'node-a'), log }))!;
  });

  it('reads pods and nodes, and patches its own Node status', async () => {
    expect((await api(`/api/v1/pods`, { cred })).status).toBe(200);
    expect((await api(`/api/v1/nodes`, { cred })).status).toBe(200);
    const patch = await api<Node>(`/api/v1/nodes/node-a/status`, {
      cred,
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { zone: 'a' } } },
    });
    expect(patch.status).toBe(200);
  });

  it('is forbidden to touch another node, create or delete pods, or use the admin APIs', async () => {
    await joinAndStart('node-b');
    const other = await api<{ message: string; reason: string }>(`/api/v1/nodes/node-b/status`, {
      cred,
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: { metadata: { labels: { evil: 'yes' } } },
    });
    expect(other.status).toBe(403);
    expect(other.body.reason).toBe('Forbidden');
    expect(other.body.message).toMatch(/User "system:node:node-a" cannot patch resource "nodes\/status".*only modify its own Node/);

    const create = await api<{ message: string }>(`/api/v1/namespaces/default/pods`, { cred, method: 'POST', body: podManifest('from-node') });
    expect(create.status).toBe(403);
    expect(create.body.message).toMatch(/cannot create resource "pods"/);
    expect((await api(`/api/v1/nodes/node-b`, { cred, method: 'DELETE' })).status).toBe(403);
    expect((await api(`/apis/flotilla.io/v1/bootstraptokens`, { cred })).status).toBe(403);
  });

  it('may write the status of a pod bound to it, not of a pod bound elsewhere', async () => {
    for (const [name, node] of [
      ['mine', 'node-a'],
      ['theirs', 'node-b'],
    ] as const) {
      expect((await api(`/api/v1/namespaces/default/pods`, { method: 'POST', body: podManifest(name, { nodeName: node }) })).status).toBe(201);
    }
    const status = { status: { message: 'written by node-a' } };
    const ok = await api(`/api/v1/namespaces/default/pods/mine/status`, { cred, method: 'PATCH', contentType: 'application/merge-patch+json', body: status });
    expect(ok.status).toBe(200);
    const no = await api<{ message: string }>(`/api/v1/namespaces/default/pods/theirs/status`, {
      cred,
      method: 'PATCH',
      contentType: 'application/merge-patch+json',
      body: status,
    });
    expect(no.status).toBe(403);
    expect(no.body.message).toMatch(/not bound to node "node-a"/);
  });

  it('a node credential replayed for another node name, or a call with missing fields, is refused and writes nothing', async () => {
    const client = new ControllerClient(cred);
    try {
      const impostor: Node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-ghost' }, spec: {}, status: {} };
      await expect(client.registerNode(impostor)).rejects.toThrow(/node "node-a" may only register itself, not "node-ghost"/);
      await expect(client.acquireSubnetLease({ publicIP: 'not-an-ip', backend: { type: 'vxlan', data: { vtepMAC: '02:00:00:00:00:01' } } })).rejects.toThrow(
        /public_ip: invalid IPv4 address "not-an-ip"/,
      );
      await expect(client.updatePodStatus(podManifest('') as Pod, {})).rejects.toThrow(/pod.namespace and pod.name are required/);
    } finally {
      client.close();
    }
    expect((await api(`/api/v1/nodes/node-ghost`)).status).toBe(404);
  });

  it('a request with neither a token nor a client certificate is 401', async () => {
    const res = await request(`${ctl.server}/api/v1/pods`, { dispatcher: new HttpsAgent({ connect: { ca: readFileSync(ctl.caFile) } }) });
    expect(res.statusCode).toBe(401);
    await res.body.dump();
  });
});

describe('[join] heartbeats and the node lifecycle', () => {
  it('a silent node turns NotReady and tainted, its pods Ready=False, evicted after their tolerationSeconds and gone, and it turns Ready when it comes back', async () => {
    const { agent, cred } = await joinAndStart('node-hb');
    const created = await api(`/api/v1/namespaces/default/pods`, { method: 'POST', body: podManifest('on-hb', { nodeName: 'node-hb', terminationGracePeriodSeconds: 1 }) });
    expect(created.status).toBe(201);
    await eventually('the pod to run', async () => (await api<Pod>(`/api/v1/namespaces/default/pods/on-hb`)).body.status?.phase === 'Running');

    await stopAgent(agent); // no more heartbeats
    const notReady = await eventually('node-hb to turn NotReady', async () => {
      const n = await getNode('node-hb');
      return readyOf(n) === 'Unknown' ? n : undefined;
    });
    expect(notReady.spec?.taints?.map((t) => t.key)).toContain('node.kubernetes.io/unreachable');
    // --pod-eviction-timeout 3: admission gave the pod the unreachable toleration for 3 s
    const tolerated = (await api<Pod>(`/api/v1/namespaces/default/pods/on-hb`)).body;
    expect(tolerated.spec.tolerations).toContainEqual({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 3 });
    await eventually('the pod to be evicted and gone', async () => (await api(`/api/v1/namespaces/default/pods/on-hb`)).status === 404, 20_000);

    await startAgent(cred); // the same credential: a restart needs no token
    // Ready comes with the first heartbeat; the lifecycle controller lifts the taints on its next pass.
    const back = await eventually('node-hb to be Ready again and untainted', async () => {
      const n = await getNode('node-hb');
      return readyOf(n) === 'True' && (n.spec?.taints ?? []).length === 0 ? n : undefined;
    });
    expect(back.spec?.unschedulable).toBeFalsy();
  }, 60_000);
});

describe('[join] bootstrap tokens and subnet leases through flotctl', () => {
  it('token create prints a join command that works, list shows it, delete revokes it', async () => {
    const created = await flotctl(ctl.kubeconfig, ['token', 'create', '--ttl', '1h', '--description', 'for it', '--print-join-command']);
    expect(created.code).toBe(0);
    const m = /^flotilla-agent join --server (\S+) --token ([a-z0-9]{6}\.[a-z0-9]{16}) --ca-hash (sha256:[0-9a-f]{64})\n$/.exec(created.stdout);
    expect(m, created.stdout + created.stderr).not.toBeNull();
    const [, server, token, caHash] = m!;
    expect(caHash).toBe(ctl.caHash);

    const list = await flotctl(ctl.kubeconfig, ['token', 'list']);
    expect(list.stdout).toMatch(new RegExp(`^${token!.slice(0, 6)}\\s+(59m|60m|1h)\\S*\\s+\\S+\\s+authentication,signing\\s+for it$`, 'm'));
    expect(list.stdout).not.toContain(token!.slice(7)); // the secret is shown once only

    await joinCluster({ server: server!, token: token!, caHash: caHash!, nodeName: 'node-tok', stateDir: join(work, 'node-tok'), log });

    const del = await flotctl(ctl.kubeconfig, ['token', 'delete', token!.slice(0, 6)]);
    expect(del.code).toBe(0);
    await expect(joinCluster({ server: server!, token: token!, caHash: caHash!, nodeName: 'node-tok2', stateDir: join(work, 'node-tok2'), log })).rejects.toThrow(
      /bootstrap token is not valid or has expired/,
    );
    const again = await flotctl(ctl.kubeconfig, ['token', 'delete', token!.slice(0, 6)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/bootstrap token ".{6}" not found/);
    const bad = await flotctl(ctl.kubeconfig, ['token', 'create', '--ttl', 'soon']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid --ttl "soon"/);
  });

  it('get subnets shows the lease a node acquired through the controller', async () => {
    const cred = (await credentialFor({ stateDir: join(work, 'node-a'), log }))!;
    const client = new ControllerClient(cred);
    try {
      const lease = await new ControllerSubnetManager(client).acquireLease('node-a', {
        publicIP: '10.201.7.1',
        backend: { type: 'vxlan', data: { vtepMAC: '02:00:00:aa:bb:01' } },
      });
      expect(lease.subnet).toMatch(/^10\.244\.\d+\.0\/24$/);
      const out = await flotctl(ctl.kubeconfig, ['get', 'subnets', '-o', 'wide']);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/^NODE\s+SUBNET\s+PUBLIC-IP\s+BACKEND\s+VTEP-MAC\s+EXPIRES-IN$/m);
      expect(out.stdout).toMatch(new RegExp(`^node-a\\s+${lease.subnet.replace(/\./g, '\\.')}\\s+10\\.201\\.7\\.1\\s+vxlan/1\\s+02:00:00:aa:bb:01\\s+\\S+$`, 'm'));
      expect((await getNode('node-a')).spec?.podCIDR).toBe(lease.subnet);
    } finally {
      client.close();
    }
  });
});

describe('[join] hollow nodes', () => {
  it('flotilla-agent join --hollow 4 brings up four Ready nodes that run scheduled pods', async () => {
    const child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'dist/node-agent/main.js'),
        'join',
        '--server',
        ctl.bootstrapAddress,
        '--token',
        ctl.joinToken,
        '--ca-hash',
        ctl.caHash,
        '--hollow',
        '4',
        '--node-name',
        'hollow',
        '--state-dir',
        join(work, 'hollow'),
        '--health-port',
        '0',
        '--heartbeat-seconds',
        '1',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await eventually(
      'four hollow nodes Ready',
      async () => {
        const nodes = (await api<{ items: Node[] }>(`/api/v1/nodes?labelSelector=flotilla.io/hollow%3Dtrue`)).body.items;
        return nodes.filter((n) => readyOf(n) === 'True').length === 4;
      },
      60_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\nagent stderr:\n${stderr.slice(-3000)}`);
    });
    for (let i = 0; i < 8; i++) {
      const p = podManifest(`hollow-pod-${i}`, { nodeSelector: { 'flotilla.io/hollow': 'true' } });
      expect((await api(`/api/v1/namespaces/default/pods`, { method: 'POST', body: p })).status).toBe(201);
    }
    const pods = await eventually('eight pods Running on hollow nodes', async () => {
      const items = (await api<{ items: Pod[] }>(`/api/v1/namespaces/default/pods`)).body.items.filter((p) => p.metadata.name!.startsWith('hollow-pod-'));
      return items.length === 8 && items.every((p) => p.status?.phase === 'Running') ? items : undefined;
    });
    // Spread across the four nodes, each with an IP.
    expect(new Set(pods.map((p) => p.spec.nodeName)).size).toBeGreaterThanOrEqual(3);
    for (const p of pods) expect(p.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    child.kill('SIGTERM');
  }, 90_000);
});
