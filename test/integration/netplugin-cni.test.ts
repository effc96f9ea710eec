// flotilla-cni as a real process (the compiled dist/netplugin/cni-main.js), run
// the way a container runtime runs a CNI plugin: CNI_* environment, network
// config on stdin, the result or error object on stdout. It runs inside a
// scratch "host" namespace (ip netns exec) so the bridge lands there.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/lab.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const CNI = join(REPO_ROOT, 'dist/netplugin/cni-main.js');
const prefix = `cn${randomInt(0, 36 ** 5).toString(36).padStart(5, '0')}`;
const hostNs = `${prefix}-host`;
const made: string[] = [];
let work: string;
let conf: Record<string, unknown>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cni(command: string, env: Record<string, string>, stdin: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', hostNs, process.execPath, CNI], {
      env: { PATH: process.env.PATH, CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

function netnsAdd(name: string): string {
  execFileSync('ip', ['netns', 'add', name]);
  made.push(name);
  return `/run/netns/${name}`;
}
function inNs(ns: string, cmd: string[]): { code: number; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}
function env(id: string, netns: string, extra: Record<string, string> = {}): Record<string, string> {
  return { CNI_CONTAINERID: id, CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=web', ...extra };
}

beforeAll(() => {
  requireRoot('flotilla-cni');
  requireBinaries('flotilla-cni', 'ip');
  if (!existsSync(CNI)) throw new Error(`${CNI} is missing: run npx tsc -p tsconfig.json first`);
  work = mkdtempSync(join(tmpdir(), 'flotilla-cni-'));
  netnsAdd(hostNs);
  conf = { cniVersion: '1.0.0', name: 'flotilla', type: 'flotilla', bridge: 'cni0', subnet: '10.244.5.0/24', mtu: 1450, dataDir: work };
});

afterAll(() => {
  for (const ns of made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
  if (work) rmSync(work, { recursive: true, force: true });
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`${prefix}-`));
  expect(left).toEqual([]);
});

describe('[network] flotilla-cni (CNI 1.0)', () => {
  it('VERSION prints the supported versions', async () => {
    const r = await cni('VERSION', {}, '');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ cniVersion: '1.0.0', supportedVersions: ['1.0.0'] });
  });

  it('ADD prints a CNI result (interfaces, ips, routes) and the pod has that address; ADD again gives the same IP', async () => {
    const ns = netnsAdd(`${prefix}-a`);
    const r = await cni('ADD', env('ctr-a', ns), JSON.stringify(conf));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.cniVersion).toBe('1.0.0');
    expect(res.interfaces).toHaveLength(2);
    expect(res.interfaces[0].name).toMatch(/^veth[0-9a-f]{8}$/);
    expect(res.interfaces[0].mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(res.interfaces[1]).toMatchObject({ name: 'eth0', sandbox: ns, mtu: 1450 });
    expect(res.ips).toEqual([{ address: expect.stringMatching(/^10\.244\.5\.\d+\/24$/), gateway: '10.244.5.1', interface: 1 }]);
    expect(res.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.244.5.1' }]);
    expect(inNs(`${prefix}-a`, ['ip', '-4', 'addr', 'show', 'eth0']).out).toContain(res.ips[0].address);
    expect(existsSync(join(work, 'ipam', 'flotilla', res.ips[0].address.split('/')[0]))).toBe(true);

    const again = await cni('ADD', env('ctr-a', ns), JSON.stringify(conf));
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).ips[0].address).toBe(res.ips[0].address);

    const other = await cni('ADD', env('ctr-b', netnsAdd(`${prefix}-b`)), JSON.stringify(conf));
    expect(JSON.parse(other.stdout).ips[0].address).not.toBe(res.ips[0].address);
  });

  it('CHECK is silent when all is well and returns an error object naming what broke', async () => {
    const ns = netnsAdd(`${prefix}-c`);
    expect((await cni('ADD', env('ctr-c', ns), JSON.stringify(conf))).code).toBe(0);
    const ok = await cni('CHECK', env('ctr-c', ns), JSON.stringify(conf));
    expect(ok).toMatchObject({ code: 0, stdout: '' });
    inNs(`${prefix}-c`, ['ip', 'route', 'del', 'default']);
    const bad = await cni('CHECK', env('ctr-c', ns), JSON.stringify(conf));
    expect(bad.code).toBe(1);
    const err = JSON.parse(bad.stdout);
    expect(err).toMatchObject({ cniVersion: '1.0.0', code: 100, details: 'NotFound' });
    expect(err.msg).toContain('no default route');
  });

  it('DEL frees the IP and removes the link; DEL again and DEL without a namespace succeed', async () => {
    const ns = netnsAdd(`${prefix}-d`);
    const add = JSON.parse((await cni('ADD', env('ctr-d', ns), JSON.stringify(conf))).stdout);
    const ip = add.ips[0].address.split('/')[0];
    const del = await cni('DEL', env('ctr-d', ns), JSON.stringify(conf));
    expect(del).toMatchObject({ code: 0, stdout: '' });
    expect(existsSync(join(work, 'ipam', 'flotilla', ip))).toBe(false);
    expect(inNs(hostNs, ['ip', 'link', 'show', add.interfaces[0].name]).code).not.toBe(0);
    expect((await cni('DEL', env('ctr-d', ns), JSON.stringify(conf))).code).toBe(0);
    expect((await cni('DEL', env('ctr-d', '', { CNI_NETNS: '' }), JSON.stringify(conf))).code).toBe(0);
  });

  it.each([
    ['stdin that is not JSON', 'ADD', {}, 'not json', 6, /not JSON/],
    ['an unsupported CNI version', 'ADD', {}, JSON.stringify({ cniVersion: '0.3.1', name: 'x', type: 'flotilla' }), 1, /0\.3\.1 is not supported/],
    ['a config of another plugin type', 'ADD', {}, JSON.stringify({ cniVersion: '1.0.0', name: 'x', type: 'bridge', subnet: '10.244.5.0/24', mtu: 1450, dataDir: '/tmp' }), 7, /type must be "flotilla"/],
    ['a bad subnet and MTU', 'ADD', {}, JSON.stringify({ cniVersion: '1.0.0', name: 'x', type: 'flotilla', subnet: '10.244.5.7/24', mtu: 10, dataDir: '/tmp' }), 7, /host bits set.*mtu must be/],
    ['no CNI_NETNS on ADD', 'ADD', { CNI_NETNS: '' }, null, 4, /CNI_NETNS is not set/],
    ['no CNI_CONTAINERID', 'ADD', { CNI_CONTAINERID: '' }, null, 4, /CNI_CONTAINERID is not set/],
    ['a malformed CNI_ARGS', 'ADD', { CNI_ARGS: 'justtext' }, null, 4, /CNI_ARGS entry "justtext"/],
    ['an unknown command', 'GC', {}, null, 4, /CNI_COMMAND "GC" is not one of/],
    ['a namespace that does not exist', 'ADD', { CNI_NETNS: '/run/netns/nope-nope' }, null, 3, /does not exist/],
  ] as const)('%s is an error object with the CNI code and exit code 1', async (_what, cmd, extra, stdin, code, msg) => {
    const r = await cni(cmd, env('ctr-x', `/run/netns/${hostNs}`, extra as Record<string, string>), stdin ?? JSON.stringify(conf));
    expect(r.code).toBe(1);
    const err = JSON.parse(r.stdout);
    expect(err.cniVersion).toBe('1.0.0');
    expect(err.code).toBe(code);
    expect(err.msg).toMatch(msg);
  });
});
