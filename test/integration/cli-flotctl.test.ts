// flotctl against the real controller: the compiled CLI (dist/cli/main.js) runs
// as a child process with KUBECONFIG set, and we assert what a user sees on
// stdout, stderr and in the exit code.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { startController } from '../helpers/controller.js';
import { REPO_ROOT } from '../helpers/lab.js';
import { requireBinaries } from '../helpers/require.js';

const CLI = join(REPO_ROOT, 'dist/cli/main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let ctl: Awaited<ReturnType<typeof startController>>;
let work: string;

function flotctl(args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: work, KUBECONFIG: ctl.kubeconfig, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.stdin ?? '');
  });
}

function file(name: string, text: string): string {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
}

const pod = (name: string, image: string, labels = 'app: web') => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  labels: {${labels}}
spec:
  containers:
  - name: main
    image: ${image}
`;

/** One line on stderr, no stack trace. */
function oneLine(stderr: string): void {
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  requireBinaries('cli integration (the controller runs its own etcd)', 'etcd');
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npx tsc -p tsconfig.json first`);
  work = mkdtempSync(join(tmpdir(), 'flotctl-it-'));
  ctl = await startController();
});

afterAll(async () => {
  await ctl?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('flotctl against the controller', () => {
  it('version shows the client and the server versions', async () => {
    const r = await flotctl(['version']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^Client Version: v\d+\.\d+\.\d+\nServer Version: v\S+\n$/);
  });

  it('cluster-info names the server from the kubeconfig', async () => {
    const r = await flotctl(['cluster-info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`control plane is running at ${ctl.server.replace(/\/$/, '')}`);
  });

  it('apply creates, then reports unchanged, then configured after an edit', async () => {
    const f = file('web.yaml', pod('web', 'nginx:1.25', 'app: web, tier: front'));
    expect(await flotctl(['apply', '-f', f])).toEqual({ code: 0, stdout: 'pod/web created\n', stderr: '' });
    expect(await flotctl(['apply', '-f', f])).toEqual({ code: 0, stdout: 'pod/web unchanged\n', stderr: '' });
    writeFileSync(f, pod('web', 'nginx:1.27'));
    expect(await flotctl(['apply', '-f', f])).toEqual({ code: 0, stdout: 'pod/web configured\n', stderr: '' });
    const live = JSON.parse((await flotctl(['get', 'pod', 'web', '-o', 'json'])).stdout);
    expect(live.spec.containers[0].image).toBe('nginx:1.27');
    // the label dropped from the file is gone from the live object
    expect(live.metadata.labels).toEqual({ app: 'web' });
    expect(JSON.parse(live.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).spec.containers[0].image).toBe('nginx:1.27');
    expect((await flotctl(['apply', '-f', f])).stdout).toBe('pod/web unchanged\n');
  });

  it('apply -f - reads multi-document YAML from stdin', async () => {
    const r = await flotctl(['apply', '-f', '-'], { stdin: pod('db', 'redis:7', 'app: db') + '---\n' + 'apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n' });
    expect(r).toEqual({ code: 0, stdout: 'pod/db created\nnamespace/team created\n', stderr: '' });
  });

  it('get pods prints kubectl columns; wide adds IP, NODE, NOMINATED NODE and READINESS GATES', async () => {
    const r = await flotctl(['get', 'pods']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME {3,}READY {3}STATUS {3,}RESTARTS {3}AGE$/);
    expect(lines.slice(1).map((l) => l.split(/\s{3,}/)[0])).toEqual(['db', 'web']);
    expect(lines[1]).toMatch(/^db {3,}0\/1 {3,}\S+ {3,}0 {3,}\d+s$/);
    const wide = await flotctl(['get', 'po', '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]).toMatch(/AGE {3}IP {3,}NODE {3,}NOMINATED NODE {3}READINESS GATES$/);
  });

  it('get -o yaml, -o json and -o name show the objects', async () => {
    const y = parseYaml((await flotctl(['get', 'pod/web', '-o', 'yaml'])).stdout);
    expect(y).toMatchObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' } });
    const list = JSON.parse((await flotctl(['get', 'pods', '-o', 'json'])).stdout);
    expect(list.kind).toBe('List');
    expect(list.items.map((p: { metadata: { name: string } }) => p.metadata.name).sort()).toEqual(['db', 'web']);
    expect((await flotctl(['get', 'pods', '-o', 'name'])).stdout.split('\n').sort().join(',')).toBe(',pod/db,pod/web');
  });

  it('get filters by label and by field selector, and -A adds a NAMESPACE column', async () => {
    expect((await flotctl(['get', 'pods', '-l', 'app=db', '-o', 'name'])).stdout).toBe('pod/db\n');
    expect((await flotctl(['get', 'pods', '--field-selector', 'metadata.name=web', '-o', 'name'])).stdout).toBe('pod/web\n');
    const all = await flotctl(['get', 'pods', '-A']);
    expect(all.stdout.split('\n')[0]).toMatch(/^NAMESPACE {3}NAME /);
    expect(all.stdout).toMatch(/\ndefault {3,}web {3,}/);
  });

  it('get namespaces and nodes use their own columns; an empty list says so on stderr', async () => {
    const ns = await flotctl(['get', 'ns']);
    expect(ns.stdout.split('\n')[0]).toMatch(/^NAME {3,}STATUS {3}AGE$/);
    expect(ns.stdout).toMatch(/\ndefault {3,}Active {3}\S+\n/);
    const empty = await flotctl(['get', 'pods', '-n', 'team']);
    expect(empty).toEqual({ code: 0, stdout: '', stderr: 'No resources found in team namespace.\n' });
    const nodes = await flotctl(['get', 'nodes']);
    expect(nodes.code).toBe(0);
    if (nodes.stdout !== '') expect(nodes.stdout.split('\n')[0]).toMatch(/^NAME {3,}STATUS {3,}ROLES {3,}AGE {3,}VERSION$/);
    else expect(nodes.stderr).toBe('No resources found\n');
  });

  it('describe pod shows the kubectl layout and its Events section', async () => {
    const r = await flotctl(['describe', 'pod', 'web']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Name: +web\n/);
    expect(r.stdout).toMatch(/\nNamespace: +default\n/);
    expect(r.stdout).toMatch(/\nContainers:\n  main:\n/);
    expect(r.stdout).toMatch(/\n {4}Image: +nginx:1\.27\n/);
    expect(r.stdout).toMatch(/\nEvents:/);
  });

  it('get -w streams changes after the listing', async () => {
    const watcher = spawn(process.execPath, [CLI, 'get', 'pods', '-w', '-l', 'app=watched'], {
      env: { PATH: process.env.PATH, HOME: work, KUBECONFIG: ctl.kubeconfig },
    });
    let out = '';
    watcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await new Promise((r) => setTimeout(r, 1000));
      await flotctl(['apply', '-f', file('watched.yaml', pod('watched', 'busybox', 'app: watched'))]);
      const deadline = Date.now() + 15_000;
      while (!/\nwatched /.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/^NAME {3,}READY {3}STATUS {3,}RESTARTS {3}AGE\nwatched /);
    } finally {
      watcher.kill('SIGTERM');
    }
    await flotctl(['delete', 'pod', 'watched', '--wait=false']);
  });

  it('delete waits until the pod is gone; then get reports NotFound with exit 1', async () => {
    const r = await flotctl(['delete', 'pod', 'db'], { timeoutMs: 60_000 });
    expect(r).toEqual({ code: 0, stdout: 'pod "db" deleted\n', stderr: '' });
    const g = await flotctl(['get', 'pod', 'db']);
    expect(g).toEqual({ code: 1, stdout: '', stderr: 'Error from server (NotFound): pods "db" not found\n' });
  });

  it('delete -f removes what the file describes', async () => {
    const f = file('gone.yaml', pod('gone', 'busybox'));
    await flotctl(['apply', '-f', f]);
    expect(await flotctl(['delete', '-f', f], { timeoutMs: 60_000 })).toEqual({ code: 0, stdout: 'pod "gone" deleted\n', stderr: '' });
  });
});

describe('flotctl errors as the user sees them', () => {
  it('a YAML error prints file:line:col and what is wrong, exit 1', async () => {
    const f = file('broken.yaml', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n   labels: x\n');
    const r = await flotctl(['apply', '-f', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^error: ${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: \\S.*\n$`));
  });

  it('an unknown resource type is named', async () => {
    expect(await flotctl(['get', 'foo'])).toEqual({ code: 1, stdout: '', stderr: 'error: the server doesn\'t have a resource type "foo"\n' });
  });

  it('an unknown kind in a manifest is named with its version', async () => {
    const r = await flotctl(['apply', '-f', file('foo.yaml', 'apiVersion: v1\nkind: Foo\nmetadata: {name: x}\n')]);
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toContain('no matches for kind "Foo" in version "v1"');
  });

  it("the server's validation message reaches the user (422)", async () => {
    const r = await flotctl(['apply', '-f', file('noimage.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: noimage}\nspec:\n  containers:\n  - name: main\n')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/Pod "noimage" is invalid: .*spec\.containers\[0\]\.image: Required value/);
  });

  it('a bad token is told to log in', async () => {
    const r = await flotctl(['get', 'pods', '--token', 'not-a-token']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'error: You must be logged in to the server (Unauthorized)\n' });
  });

  it('a server whose certificate the kubeconfig does not trust is refused', async () => {
    const kc = parseYaml(readFileSync(ctl.kubeconfig, 'utf8'));
    for (const c of kc.clusters) {
      delete c.cluster['certificate-authority-data'];
      delete c.cluster['certificate-authority'];
    }
    const untrusting = file('untrusting.kubeconfig', toYaml(kc));
    const r = await flotctl(['get', 'pods'], { env: { KUBECONFIG: untrusting } });
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'Unable to connect to the server: x509: certificate signed by unknown authority\n' });
  });

  it('a refused connection names host and port', async () => {
    const port = await freePort();
    const r = await flotctl(['get', 'pods', '--server', `https://127.0.0.1:${port}`]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `The connection to the server 127.0.0.1:${port} was refused - did you specify the right host or port?\n` });
  });

  it('no kubeconfig at all says where one comes from', async () => {
    const r = await flotctl(['get', 'pods'], { env: { KUBECONFIG: '' } });
    expect(r.code).toBe(1);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(/^error: no server found/);
  });

  it('logs and exec call the API and print its answer as one line', async () => {
    for (const args of [['logs', 'web'], ['exec', 'web', '--', 'ls', '/']]) {
      const r = await flotctl(args);
      if (r.code !== 0) {
        oneLine(r.stderr);
        expect(r.stderr).toMatch(/^(Error from server \(\w+\): |error: )/);
      }
    }
    const missing = await flotctl(['logs', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error from server \(NotFound\): .*nope/);
  });
});

describe('flotctl delete --cascade against the garbage collector', () => {
  const cm = (name: string, owner?: { name: string; uid: string }) =>
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, ...(owner ? { ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: owner.name, uid: owner.uid, blockOwnerDeletion: true }] } : {}) },
      data: { a: '1' },
    });
  const uidOf = async (name: string) => JSON.parse((await flotctl(['get', 'configmap', name, '-o', 'json'])).stdout).metadata.uid as string;
  const exists = async (name: string) => (await flotctl(['get', 'configmap', name, '-o', 'name'])).code === 0;
  async function eventually(what: string, ok: () => Promise<boolean>): Promise<void> {
    const end = Date.now() + 60_000;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it.each(['background', 'foreground', 'orphan'])('--cascade=%s: the dependent goes with its owner, or stays without its reference (orphan)', async (policy) => {
    const owner = `owner-${policy}`;
    const dep = `dep-${policy}`;
    expect((await flotctl(['apply', '-f', '-'], { stdin: cm(owner) })).code).toBe(0);
    expect((await flotctl(['apply', '-f', '-'], { stdin: cm(dep, { name: owner, uid: await uidOf(owner) }) })).code).toBe(0);
    expect(await flotctl(['delete', 'configmap', owner, `--cascade=${policy}`], { timeoutMs: 90_000 })).toEqual({ code: 0, stdout: `configmap "${owner}" deleted\n`, stderr: '' });
    expect(await exists(owner)).toBe(false);
    if (policy === 'orphan') {
      const left = JSON.parse((await flotctl(['get', 'configmap', dep, '-o', 'json'])).stdout);
      expect(left.metadata.ownerReferences ?? []).toEqual([]);
    } else {
      await eventually(`${dep} to be collected`, async () => !(await exists(dep)));
    }
  });

  it('--cascade with another word is refused before anything is sent', async () => {
    const r = await flotctl(['delete', 'configmap', 'whatever', '--cascade=sideways']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe('error: invalid argument "sideways" for "--cascade" flag: must be "background", "foreground", or "orphan"\n');
  });
});
