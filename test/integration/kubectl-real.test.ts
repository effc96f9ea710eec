// The real kubectl binaries against the real controller: Debian's 1.20 and the
// newer one on PATH. apply (created / unchanged / configured, strategic merge
// patch + last-applied annotation), get (Table columns), -o yaml, get nodes,
// describe (events by involvedObject field selector) and delete (waits with a
// metadata.name field selector and a watch for DELETED).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type StartedController } from '../helpers/controller.js';
import { requireBinaries } from '../helpers/require.js';
import { flotctl } from '../helpers/flotctl.js';

const KUBECTLS: [string, string][] = [
  ['kubectl 1.20 (Debian)', '/opt/flotilla/kubernetes-client/usr/bin/kubectl'],
  ['kubectl on PATH', '/usr/bin/kubectl'],
  ['kubectl 1.33', '/usr/lib/google-cloud-sdk/bin/kubectl.1.33'],
];

let ctl: StartedController;
let home: string;
let agent: Agent;

function run(bin: string, args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      bin,
      args,
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: ctl.kubeconfig }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code?: unknown }).code as number) : 1) : 0, stdout, stderr }),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

/** Polls a GET until it answers `code` (60 s). */
async function eventuallyStatus(path: string, code: number): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    const r = await api('GET', path);
    if (r.status === code) return;
    if (Date.now() > end) throw new Error(`${path} still answers ${r.status}, not ${code}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function api(method: string, path: string, body?: unknown) {
  const r = await request(`${ctl.server}${path}`, {
    method: method as 'GET',
    dispatcher: agent,
    headers: { authorization: `Bearer ${ctl.token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.statusCode, json: (await r.body.json()) as any };
}

function manifest(ns: string, name: string, image: string, label: string): string {
  return `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels:
    app: ${label}
spec:
  containers:
  - name: main
    image: ${image}
    command: ["sleep", "3600"]
`;
}

beforeAll(async () => {
  requireBinaries('kubectl integration', 'etcd');
  for (const [, bin] of KUBECTLS) {
    if (!existsSync(bin)) throw new Error(`kubectl integration needs ${bin}: run hack/deps.sh first`);
  }
  home = mkdtempSync(join(tmpdir(), 'flotilla-kubectl-home-'));
  // No scheduler: pods stay unbound, so deletes are immediate and nothing else writes.
  // The node below is written once and never heartbeats: a long grace period keeps it
  // Ready however long the three kubectl runs take on a loaded machine.
  ctl = await startController({ runArgs: ['--no-scheduler', '--node-monitor-grace-period', '3600'] });
  agent = new Agent({ connect: { ca: readFileSync(ctl.caFile, 'utf8') } });
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: `knode-${process.pid}`, labels: { 'node-role.kubernetes.io/worker': '' } },
    status: {
      conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', message: 'ready', lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }],
      nodeInfo: { kubeletVersion: 'v0.1.0-flotilla' },
      addresses: [{ type: 'InternalIP', address: '10.200.0.11' }],
    },
  };
  const r = await api('POST', '/api/v1/nodes', node);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
});

afterAll(async () => {
  await agent?.close();
  await ctl?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe.each(KUBECTLS)('%s against the controller', (label, bin) => {
  const ns = `kc-${label.includes('1.20') ? 'old' : label.includes('1.33') ? 'v133' : 'new'}-${process.pid}`;
  const name = 'web';
  let file: string;

  beforeAll(async () => {
    const r = await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    expect(r.status).toBe(201);
    file = join(home, `${ns}.yaml`);
  });

  it('kubectl apply -f creates, leaves unchanged, then configures a pod', async () => {
    writeFileSync(file, manifest(ns, name, 'busybox:1.36', 'web'));
    const created = await run(bin, ['apply', '-f', file]);
    expect(created.stderr).toBe('');
    expect(created.stdout.trim()).toBe(`pod/${name} created`);
    const unchanged = await run(bin, ['apply', '-f', file]);
    expect(unchanged.stdout.trim()).toBe(`pod/${name} unchanged`);
    writeFileSync(file, manifest(ns, name, 'busybox:1.37', 'web2'));
    const configured = await run(bin, ['apply', '-f', file]);
    expect(configured.stderr).toBe('');
    expect(configured.stdout.trim()).toBe(`pod/${name} configured`);
    const live = await api('GET', `/api/v1/namespaces/${ns}/pods/${name}`);
    expect(live.json.spec.containers[0].image).toBe('busybox:1.37');
    expect(live.json.metadata.labels).toEqual({ app: 'web2' });
    expect(live.json.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('busybox:1.37');
  });

  it('kubectl get pods prints the Table columns', async () => {
    const r = await run(bin, ['get', 'pods', '-n', ns]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]!.split(/\s+/)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(lines[1]!.split(/\s+/).slice(0, 4)).toEqual([name, '0/1', 'Pending', '0']);
    const wide = await run(bin, ['get', 'pods', '-n', ns, '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]).toMatch(/NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
  });

  it('kubectl get pods and flotctl get pods print the same columns and cells', async () => {
    for (const wide of [[], ['-o', 'wide']]) {
      const k = await run(bin, ['get', 'pods', '-n', ns, ...wide]);
      const f = await flotctl(ctl.kubeconfig, ['get', 'pods', '-n', ns, ...wide]);
      expect(f.code).toBe(0);
      // AGE may tick between the two commands: compare every other cell
      const cells = (out: string) => out.trim().split('\n').map((l) => l.split(/\s{2,}/).filter((_, i) => i !== 4));
      expect(cells(f.stdout)).toEqual(cells(k.stdout));
    }
  });

  it('kubectl creates, gets, describes, prints as YAML and deletes a configmap', async () => {
    const c = await run(bin, ['create', 'configmap', 'app-config', '-n', ns, '--from-literal=mode=fast', '--from-literal=level=3']);
    expect(c.stderr).toBe('');
    expect(c.stdout.trim()).toBe('configmap/app-config created');
    const g = await run(bin, ['get', 'configmaps', '-n', ns]);
    const row = g.stdout.trim().split('\n');
    expect(row[0]!.split(/\s+/)).toEqual(['NAME', 'DATA', 'AGE']);
    expect(row.find((l) => l.startsWith('app-config'))!.split(/\s+/).slice(0, 2)).toEqual(['app-config', '2']);
    const y = await run(bin, ['get', 'cm', 'app-config', '-n', ns, '-o', 'yaml']);
    expect(y.stdout).toMatch(/^kind: ConfigMap$/m);
    expect(y.stdout).toMatch(/^  mode: fast$/m);
    const d = await run(bin, ['describe', 'configmap', 'app-config', '-n', ns]);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/Name:\s+app-config/);
    expect(d.stdout).toMatch(/mode:\n----\nfast/);
    const del = await run(bin, ['delete', 'configmap', 'app-config', '-n', ns]);
    expect(del.stdout.trim()).toBe('configmap "app-config" deleted');
    expect((await api('GET', `/api/v1/namespaces/${ns}/configmaps/app-config`)).status).toBe(404);
  });

  it('kubectl creates, gets, describes, prints as YAML and deletes a secret', async () => {
    const c = await run(bin, ['create', 'secret', 'generic', 'db-pass', '-n', ns, '--from-literal=password=s3cr3t']);
    expect(c.stderr).toBe('');
    expect(c.stdout.trim()).toBe('secret/db-pass created');
    const g = await run(bin, ['get', 'secrets', '-n', ns]);
    const lines = g.stdout.trim().split('\n');
    expect(lines[0]!.split(/\s+/)).toEqual(['NAME', 'TYPE', 'DATA', 'AGE']);
    expect(lines.find((l) => l.startsWith('db-pass'))!.split(/\s+/).slice(0, 3)).toEqual(['db-pass', 'Opaque', '1']);
    const y = await run(bin, ['get', 'secret', 'db-pass', '-n', ns, '-o', 'yaml']);
    expect(y.stdout).toContain(`password: ${Buffer.from('s3cr3t').toString('base64')}`);
    const d = await run(bin, ['describe', 'secret', 'db-pass', '-n', ns]);
    expect(d.code).toBe(0);
    expect(d.stdout).toMatch(/password:\s+6 bytes/);
    expect(d.stdout).not.toContain('s3cr3t');
    const bad = await run(bin, ['create', '-n', ns, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bad' }, data: { k: 'not base64!' } }));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/data\[k\]|illegal base64|base64/);
    const del = await run(bin, ['delete', 'secret', 'db-pass', '-n', ns]);
    expect(del.stdout.trim()).toBe('secret "db-pass" deleted');
  });

  it('kubectl delete --cascade=background|orphan|foreground: the garbage collector removes, orphans or first removes the dependents', async () => {
    const owner = async (n: string) => (await api('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: n }, data: { role: 'owner' } })).json;
    const dependent = async (n: string, o: { metadata: { name: string; uid: string } }) => {
      const ref = { apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata.name, uid: o.metadata.uid, blockOwnerDeletion: true };
      const r = await api('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: n, ownerReferences: [ref] }, data: { role: 'dependent' } });
      expect(r.status).toBe(201);
    };
    const gone = (n: string) => eventuallyStatus(`/api/v1/namespaces/${ns}/configmaps/${n}`, 404);
    for (const [policy, o, d] of [['background', 'own-bg', 'dep-bg'], ['orphan', 'own-or', 'dep-or'], ['foreground', 'own-fg', 'dep-fg']] as const) {
      await dependent(d, await owner(o));
      const r = await run(bin, ['delete', 'configmap', o, '-n', ns, `--cascade=${policy}`, '--wait=true', '--timeout=60s']);
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(`configmap "${o}" deleted`);
      await gone(o);
      if (policy === 'orphan') {
        const left = await api('GET', `/api/v1/namespaces/${ns}/configmaps/${d}`);
        expect(left.status).toBe(200);
        expect(left.json.metadata.ownerReferences ?? []).toEqual([]);
      } else {
        await gone(d);
      }
    }
  });

  it('kubectl get pods -o yaml prints the stored pod', async () => {
    const r = await run(bin, ['get', 'pods', name, '-n', ns, '-o', 'yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^apiVersion: v1\nkind: Pod\n/);
    expect(r.stdout).toContain(`  name: ${name}\n`);
    expect(r.stdout).toContain('image: busybox:1.37');
    expect(r.stdout).toContain('phase: Pending');
  });

  it('kubectl get nodes prints the node as Ready with its role', async () => {
    const r = await run(bin, ['get', 'nodes']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]!.split(/\s+/)).toEqual(['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']);
    const row = lines.find((l) => l.startsWith(`knode-${process.pid}`))!.split(/\s+/);
    expect([row[1], row[2], row[4]]).toEqual(['Ready', 'worker', 'v0.1.0-flotilla']);
  });

  it('kubectl describe pod shows the pod and its events', async () => {
    const uid = (await api('GET', `/api/v1/namespaces/${ns}/pods/${name}`)).json.metadata.uid;
    const ev = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${name}.test1`, namespace: ns },
      involvedObject: { kind: 'Pod', name, namespace: ns, uid, apiVersion: 'v1' },
      reason: 'Testing',
      message: 'an event for describe',
      type: 'Normal',
      count: 1,
      source: { component: 'integration-test' },
      firstTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    expect((await api('POST', `/api/v1/namespaces/${ns}/events`, ev)).status).toBe(201);
    const r = await run(bin, ['describe', 'pod', name, '-n', ns]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^Name:\\s+${name}$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^Namespace:\\s+${ns}$`, 'm'));
    expect(r.stdout).toMatch(/^Status:\s+Pending$/m);
    expect(r.stdout).toMatch(/Image:\s+busybox:1.37/);
    expect(r.stdout).toMatch(/Normal\s+Testing\s+.*integration-test\s+an event for describe/);
  });

  it('kubectl get pods -w prints rows as pods change', async () => {
    const child = spawn(bin, ['get', 'pods', '-n', ns, '-w'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: ctl.kubeconfig } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const waitFor = async (re: RegExp) => {
        for (let i = 0; i < 100 && !re.test(out); i++) await new Promise((r) => setTimeout(r, 100));
        expect(out, err).toMatch(re);
      };
      await waitFor(new RegExp(`^${name}\\s+0/1\\s+Pending`, 'm'));
      writeFileSync(file.replace(/\.yaml$/, '-w.yaml'), manifest(ns, 'watched', 'busybox:1.36', 'w'));
      expect((await run(bin, ['apply', '-f', file.replace(/\.yaml$/, '-w.yaml')])).stdout.trim()).toBe('pod/watched created');
      await waitFor(/^watched\s+0\/1\s+Pending/m);
      await run(bin, ['delete', 'pod', 'watched', '-n', ns]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(err).toBe('');
  });

  it('kubectl get for a missing pod prints the server message', async () => {
    const r = await run(bin, ['get', 'pod', 'nope', '-n', ns]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('pods "nope" not found');
  });

  it('kubectl delete pod waits until the pod is gone', async () => {
    const r = await run(bin, ['delete', 'pod', name, '-n', ns]);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`pod "${name}" deleted`);
    expect((await api('GET', `/api/v1/namespaces/${ns}/pods/${name}`)).status).toBe(404);
    const none = await run(bin, ['get', 'pods', '-n', ns]);
    expect(`${none.stdout}${none.stderr}`).toContain('No resources found');
  });

  it('kubectl delete -f a bound pod returns once the node confirms the deletion', async () => {
    writeFileSync(file, manifest(ns, 'bound', 'busybox:1.36', 'b'));
    expect((await run(bin, ['apply', '-f', file])).stdout.trim()).toBe('pod/bound created');
    const bind = await api('POST', `/api/v1/namespaces/${ns}/pods/bound/binding`, {
      apiVersion: 'v1',
      kind: 'Binding',
      metadata: { name: 'bound' },
      target: { kind: 'Node', name: `knode-${process.pid}` },
    });
    expect(bind.status).toBe(201);
    const deleting = run(bin, ['delete', '-f', file, '--timeout=50s']);
    // play the node: wait for the deletionTimestamp, then confirm with grace 0
    let terminating = false;
    for (let i = 0; i < 100 && !terminating; i++) {
      terminating = Boolean((await api('GET', `/api/v1/namespaces/${ns}/pods/bound`)).json.metadata?.deletionTimestamp);
      if (!terminating) await new Promise((r) => setTimeout(r, 100));
    }
    expect(terminating).toBe(true);
    const get = await run(bin, ['get', 'pods', '-n', ns]);
    expect(get.stdout).toMatch(/bound\s+0\/1\s+Terminating/);
    expect((await api('DELETE', `/api/v1/namespaces/${ns}/pods/bound`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 })).status).toBe(200);
    const r = await deleting;
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('pod "bound" deleted');
  });
});
