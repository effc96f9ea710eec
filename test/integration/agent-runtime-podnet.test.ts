// Sandboxes on the real bridge pod network (netplugin's BridgePodNetwork: veth,
// bridge, host-local IPAM), its bridge in a scratch "host" namespace so this
// machine's own network is not touched: pods get IPs of the node's subnet and
// reach each other and their gateway; a restarted runtime keeps their IPs;
// removing a pod frees its IP and its veth.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Pod } from '../../api/index.js';
import { BridgePodNetwork } from '../../netplugin/index.js';
import type { NodeRuntime } from '../../node-agent/node-runtime.js';
import { startRuntimeFixture, waitFor, type RuntimeFixture } from '../helpers/node-runtime.js';
import { requireBinaries } from '../helpers/require.js';

const hostNs = `rtn${randomInt(0, 36 ** 5).toString(36).padStart(5, '0')}-host`;
const SUBNET = '10.244.9.0/24';
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

async function execIn(rt: NodeRuntime, pod: Pod, container: string, command: string[]) {
  let out = '';
  const code = await rt.exec(pod, container, { command, onStdout: (b) => (out += Buffer.from(b).toString()), onStderr: (b) => (out += Buffer.from(b).toString()) });
  return { code, out };
}

function inHost(cmd: string[]) {
  const r = spawnSync('ip', ['netns', 'exec', hostNs, ...cmd], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe('[node runtime] pods on the bridge pod network', () => {
  let fx: RuntimeFixture;
  let rt: NodeRuntime;
  const networks: BridgePodNetwork[] = [];
  const network = () => {
    const n = new BridgePodNetwork({ subnet: SUBNET, mtu: 1450, ipamDir: join(fx.stateDir, 'ipam'), hostNetns: `/run/netns/${hostNs}`, log: silentLogger() });
    networks.push(n);
    return n;
  };

  beforeAll(async () => {
    requireBinaries('the pod network suite', 'ip');
    fx = await startRuntimeFixture('the pod network suite');
    execFileSync('ip', ['netns', 'add', hostNs]);
    rt = await fx.reopen({ podNetwork: network() });
  });

  afterAll(async () => {
    await fx?.cleanup();
    for (const n of networks) await n.close().catch(() => undefined);
    spawnSync('ip', ['netns', 'del', hostNs]);
  });

  it('pods get IPs of the subnet on eth0 and reach each other and the gateway over the bridge', async () => {
    const a = fx.pod('srv', [{ name: 'httpd', command: ['httpd', '-f', '-p', '8080', '-h', '/www'] }]);
    const b = fx.pod('cli', [{ name: 'c', command: SLEEP }]);
    for (const p of [a, b]) {
      const sb = await rt.createSandbox(p);
      await rt.startContainer(p, sb, p.spec.containers[0]!, 0);
    }
    const ipA = (await rt.podStatus(a)).sandbox!.ip!;
    const ipB = (await rt.podStatus(b)).sandbox!.ip!;
    expect(ipA).toMatch(/^10\.244\.9\.\d+$/);
    expect(ipB).toMatch(/^10\.244\.9\.\d+$/);
    expect(ipA).not.toBe(ipB);
    expect((await execIn(rt, b, 'c', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).out).toContain(`inet ${ipB}/24`);
    expect((await execIn(rt, b, 'c', ['ip', 'route'])).out).toContain('default via 10.244.9.1 dev eth0');
    expect((await execIn(rt, b, 'c', ['ping', '-c1', '-W2', '10.244.9.1'])).code).toBe(0);
    const page = await waitFor('pod cli to fetch from pod srv by IP', async () => {
      const r = await execIn(rt, b, 'c', ['wget', '-qO-', `http://${ipA}:8080/`]);
      return r.code === 0 ? r.out : undefined;
    });
    expect(page.length).toBeGreaterThan(0);
    // The node (here: the scratch host namespace) reaches the pod too.
    expect(inHost(['ping', '-c1', '-W2', ipA]).code).toBe(0);
  });

  it('a restarted runtime with a new network instance keeps the pods’ IPs and hands a new pod another one', async () => {
    const before = await rt.listPods();
    const ips = before.map((p) => p.sandbox?.ip).filter(Boolean).sort();
    expect(ips.length).toBe(2);
    rt = await fx.reopen({ podNetwork: network() });
    expect((await rt.listPods()).map((p) => p.sandbox?.ip).filter(Boolean).sort()).toEqual(ips);
    const c = fx.pod('third', [{ name: 'c', command: SLEEP }]);
    const sb = await rt.createSandbox(c);
    expect(ips).not.toContain(sb.ip);
    await rt.startContainer(c, sb, c.spec.containers[0]!, 0);
    expect((await execIn(rt, c, 'c', ['ping', '-c1', '-W2', ips[0]!])).code).toBe(0);
  });

  it('removing the pods frees their IPs and removes their veths', async () => {
    const pods = await rt.listPods();
    const hostIfs = pods.map((p) => networks[0]!.hostIfName(p.sandbox!.id));
    const ipam = join(fx.stateDir, 'ipam');
    const held = () => (existsSync(ipam) ? readdirSync(ipam, { recursive: true }).map(String).filter((f) => /10\.244\.9\.\d+$/.test(f)) : []);
    for (const h of hostIfs) expect(inHost(['ip', 'link', 'show', h]).code).toBe(0);
    expect(held().length).toBe(3);
    for (const p of pods) await rt.killPod({ metadata: { uid: p.uid } }, 0);
    for (const h of hostIfs) expect(inHost(['ip', 'link', 'show', h]).code).not.toBe(0);
    expect(held()).toEqual([]);
    expect(readdirSync(rt.layout.netnsDir())).toEqual([]);
  });
});
