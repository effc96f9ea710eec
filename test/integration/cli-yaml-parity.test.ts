// `flotctl apply -f` reads a manifest as kubectl does (YAML 1.1 via go-yaml v2):
// the compiled CLI against the real controller, asserting what the user sees
// and what the server stored. Build first: npx tsc -p tsconfig.json.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController } from '../helpers/controller.js';
import { FLOTCTL as CLI, flotctl as runFlotctl } from '../helpers/flotctl.js';
import { requireBinaries } from '../helpers/require.js';


let ctl: Awaited<ReturnType<typeof startController>>;
let work: string;

// HOME is the test's own dir: no kubectl/flotctl cache of the user's is read
const flotctl = (args: string[]) => runFlotctl(ctl.kubeconfig, args, { env: { HOME: work } });

function file(name: string, text: string): string {
  const p = join(work, name);
  writeFileSync(p, text);
  return p;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

beforeAll(async () => {
  requireBinaries('yaml parity (the controller runs its own etcd)', 'etcd');
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npx tsc -p tsconfig.json first`);
  work = mkdtempSync(join(tmpdir(), 'flotctl-yaml-'));
  ctl = await startController();
});

afterAll(async () => {
  await ctl?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('flotctl apply reads YAML as kubectl does', () => {
  it('hostNetwork: yes is true and containerPort: 010 is 8 in the stored object', async () => {
    const f = file(
      'yaml11.yaml',
      `apiVersion: v1
kind: Pod
metadata:
  name: yaml11
  labels: {app: "yes"}
spec:
  hostNetwork: yes
  enableServiceLinks: off
  containers:
  - name: main
    image: nginx:1.25
    ports:
    - containerPort: 010
      protocol: TCP
    - containerPort: 0x50
`,
    );
    expect(await flotctl(['apply', '-f', f])).toEqual({ code: 0, stdout: 'pod/yaml11 created\n', stderr: '' });
    const live = JSON.parse((await flotctl(['get', 'pod', 'yaml11', '-o', 'json'])).stdout);
    expect(live.spec.hostNetwork).toBe(true);
    expect(live.spec.enableServiceLinks).toBe(false);
    expect(live.spec.containers[0].ports.map((p: { containerPort: number }) => p.containerPort)).toEqual([8, 80]);
    // a quoted "yes" stays the string it is
    expect(live.metadata.labels).toEqual({ app: 'yes' });
    // applied again, the same file means the same object
    expect((await flotctl(['apply', '-f', f])).stdout).toBe('pod/yaml11 unchanged\n');
  });

  it('name: no is the boolean false and fails validation naming the field', async () => {
    const f = file('no.yaml', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-no\nspec:\n  containers:\n  - name: no\n    image: nginx\n');
    const r = await flotctl(['apply', '-f', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    // kubectl sends the same false (a validation error from the server, naming the field)
    expect(r.stderr).toBe('The Pod "web-no" is invalid: spec.containers[0].name: Invalid value: "boolean": must be a string\n');
    expect((await flotctl(['get', 'pod', 'web-no'])).code).toBe(1);
  });

  it('a circular alias is an error naming the file and line, and nothing is sent', async () => {
    const f = file('loop.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: loop\n  labels: &l\n    x: *l\n');
    const r = await flotctl(['apply', '-f', f]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: `error: ${f}:6:8: anchor 'l' value contains itself\n` });
    expect((await flotctl(['get', 'configmap', 'loop'])).code).toBe(1);
  });

  it('an alias bomb is refused at once', async () => {
    const lines = ['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: bomb}', 'data:', '  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 10; i++) lines.push(`  l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]`);
    const started = Date.now();
    const r = await flotctl(['apply', '-f', file('bomb.yaml', lines.join('\n'))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error: ${escape(join(work, 'bomb.yaml'))}:1:1: Excessive alias count: the document contains excessive aliasing`));
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('a syntax error in the second document of a file applies nothing, not even the first', async () => {
    const f = file('half.yaml', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: first-half}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: [second\n');
    const r = await flotctl(['apply', '-f', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^error: ${escape(f)}:\\d+:\\d+: \\S`));
    expect(await flotctl(['get', 'namespace', 'first-half'])).toEqual({ code: 1, stdout: '', stderr: 'Error from server (NotFound): namespaces "first-half" not found\n' });
  });
});
