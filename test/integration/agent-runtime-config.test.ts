// Pods consume ConfigMaps, Secrets and the downward API, through the real
// daemons: the compiled controller (managed etcd) on a lab gateway, and the
// flotilla-agent binary in a lab host's network namespace with its pod network
// (VXLAN, bridge, host-local IPAM), running busybox pods with crun under conmon.
// Everything is done as a user does it: ConfigMaps, Secrets and pods through
// the API, files and variables read with `flotctl exec` inside the container.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Event, type Node, type Pod } from '../../api/index.js';
import * as native from '../../native/index.js';
import { CgroupManager, openLayout, pushImage, RegistryClient } from '../../node-agent/index.js';
import { NodeRuntime } from '../../node-agent/node-runtime.js';
import { mountsUnder } from '../../node-agent/sandbox/sandbox-manager.js';
import { CONTROLLER_MAIN, controllerApi, freeTcpPort, REPO_ROOT, startController, type StartedController } from '../helpers/controller.js';
import { eventually, flotctl, FLOTCTL } from '../helpers/flotctl.js';
import { Lab } from '../helpers/lab.js';
import { buildTestImage } from '../helpers/registry.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const NS = 'demo';
const prefix = `flt${randomBytes(3).toString('hex')}`;
const cgroupParent = `/flotilla-test-${prefix}`;
let lab: Lab;
let ctl: StartedController;
let tmp: string;
let agentMain: string;
let registry: ChildProcess | undefined;
let registryHost: string;
let image: string;
let nodeIP: string;

const api = <T = any>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl, path, init);

async function must<T = any>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const r = await api<T>(path, init);
  if (r.status >= 300) throw new Error(`${init.method ?? 'GET'} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const getPod = (name: string) => must<Pod>(`/api/v1/namespaces/${NS}/pods/${name}`);

async function exec(pod: string, cmd: string[]): Promise<string> {
  const r = await flotctl(ctl.kubeconfig, ['exec', '-n', NS, pod, '--', ...cmd]);
  if (r.code !== 0) throw new Error(`flotctl exec ${pod} -- ${cmd.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function eventsOf(pod: string): Promise<Event[]> {
  return (await must<{ items: Event[] }>(`/api/v1/namespaces/${NS}/events`)).items.filter((e) => e.involvedObject?.name === pod);
}

function agentLog(): string {
  const f = `/run/flotilla-lab/${lab.prefix}/logs/h1-agent.log`;
  return existsSync(f) ? readFileSync(f, 'utf8').slice(-6000) : '(no agent log)';
}

async function createPod(name: string, spec: Partial<Pod['spec']>): Promise<void> {
  await must(`/api/v1/namespaces/${NS}/pods`, {
    method: 'POST',
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { nodeName: 'h1', terminationGracePeriodSeconds: 1, ...spec } },
  });
}

async function running(name: string, ms = 90_000): Promise<Pod> {
  return eventually(`pod ${name} Running`, async () => {
    const p = await getPod(name);
    return p.status?.containerStatuses?.every((c) => c.state?.running) ? p : undefined;
  }, ms, 250).catch((e: Error) => {
    throw new Error(`${e.message}\nagent log:\n${agentLog()}`);
  });
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
// Two versions of a big value: a file written in place would be seen half-written by the reader loop.
const BIG_V1 = `v1\n${'a'.repeat(300 * 1024)}\n`;
const BIG_V2 = `v2\n${'b'.repeat(300 * 1024)}\n`;
const md5 = (s: string) => createHash('md5').update(s).digest('hex');

beforeAll(async () => {
  requireRoot('the config consumption suite');
  requireBinaries('the config consumption suite', 'etcd', 'crun', 'conmon', 'docker-registry', 'ip', 'nsenter');
  if (!existsSync(CONTROLLER_MAIN) || !existsSync(FLOTCTL)) throw new Error(`the config consumption suite needs the compiled controller and flotctl: run npx tsc -p tsconfig.json`);
  tmp = mkdtempSync(join(tmpdir(), `flotilla-agent-config-${prefix}-`));
  // The agent as plain JS from the current sources (no type-check), under the repo so the addon and pause are found.
  const out = join(REPO_ROOT, 'node_modules', '.cache', `flotilla-agent-config-${prefix}`);
  execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), [
    '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--resolveJsonModule',
    '--rootDir', REPO_ROOT, '--outDir', out, join(REPO_ROOT, 'node-agent/main.ts'),
  ], { cwd: REPO_ROOT });
  cpSync(join(REPO_ROOT, 'api', 'proto'), join(out, 'api', 'proto'), { recursive: true });
  agentMain = join(out, 'node-agent', 'main.js');

  // One lab host; the controller and the registry on the lab's gateway, which the host reaches over its underlay.
  lab = new Lab('cfg');
  lab.up(1);
  nodeIP = lab.hostIp('h1');
  const port = await freeTcpPort(lab.gateway);
  registryHost = `${lab.gateway}:${port}`;
  mkdirSync(join(tmp, 'registry'));
  writeFileSync(
    join(tmp, 'registry', 'config.yml'),
    ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(tmp, 'registry', 'data')}`, 'http:', `  addr: ${registryHost}`, `  secret: ${randomBytes(8).toString('hex')}`, ''].join('\n'),
  );
  registry = spawn('/usr/bin/docker-registry', ['serve', join(tmp, 'registry', 'config.yml')], { stdio: 'ignore' });
  await eventually('the registry', async () => (await fetch(`http://${registryHost}/v2/`).then((r) => r.ok, () => false)) || undefined, 20_000, 100);
  const built = buildTestImage(join(tmp, 'image'));
  image = `${registryHost}/library/busybox:1.35`;
  await pushImage(new RegistryClient({ insecureRegistries: [registryHost] }), openLayout(built.dir), undefined, image);

  ctl = await startController({ host: lab.gateway, runArgs: ['--no-scheduler'] });
  lab.spawn('h1', 'agent', [
    process.execPath, agentMain, 'join', '--server', ctl.bootstrapAddress, '--token', ctl.joinToken, '--ca-hash', ctl.caHash,
    '--node-name', 'h1', '--node-ip', nodeIP, '--state-dir', join(tmp, 'state'), '--run-dir', join(tmp, 'run'),
    '--cgroup-parent', cgroupParent, '--insecure-registry', registryHost, '--health-port', '0', '--heartbeat-seconds', '1',
  ]);
  await eventually('node h1 Ready with a pod subnet', async () => {
    const r = await api<Node>('/api/v1/nodes/h1');
    return r.status === 200 && r.body.spec?.podCIDR && r.body.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  }, 90_000, 500).catch((e: Error) => {
    throw new Error(`${e.message}\nagent log:\n${agentLog()}`);
  });
  await must('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
}, 300_000);

afterAll(async () => {
  // Pods go through the agent (deleted, confirmed); whatever is left is removed through the runtime on its dirs.
  if (ctl) {
    const pods = await api<{ items: Pod[] }>(`/api/v1/namespaces/${NS}/pods`).catch(() => undefined);
    for (const p of pods?.body?.items ?? []) await api(`/api/v1/namespaces/${NS}/pods/${p.metadata.name}`, { method: 'DELETE' }).catch(() => undefined);
    await eventually('the pods gone', async () => ((await api<{ items: Pod[] }>(`/api/v1/namespaces/${NS}/pods`)).body.items.length === 0 ? true : undefined), 60_000, 500).catch(() => undefined);
  }
  lab?.down();
  if (tmp && existsSync(join(tmp, 'state'))) {
    const rt = await NodeRuntime.create({ stateDir: join(tmp, 'state'), runDir: join(tmp, 'run'), cgroupParent: `${cgroupParent}`, log: silentLogger() }).catch(() => undefined);
    for (const st of (await rt?.listPods().catch(() => [])) ?? []) await rt!.killPod({ metadata: { uid: st.uid } }, 0).catch(() => undefined);
  }
  for (const m of tmp ? mountsUnder([tmp]) : []) {
    try {
      native.umount(m, native.MNT_DETACH);
    } catch {
      /* gone */
    }
  }
  await new CgroupManager({ parent: cgroupParent }).remove(cgroupParent).catch(() => undefined);
  await ctl?.stop();
  registry?.kill('SIGTERM');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  rmSync(join(REPO_ROOT, 'node_modules', '.cache', `flotilla-agent-config-${prefix}`), { recursive: true, force: true });
}, 180_000);

describe('[agent] pods consume ConfigMaps, Secrets and the downward API', () => {
  it('a pod reads a ConfigMap key and a Secret key as env and as files, and its own name and IP as env', async () => {
    await must(`/api/v1/namespaces/${NS}/configmaps`, {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config' }, data: { mode: 'v1', big: BIG_V1 } },
    });
    // `1st` is a good ConfigMap key but not a variable name: envFrom skips it.
    await must(`/api/v1/namespaces/${NS}/configmaps`, {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'env-config' }, data: { LEVEL: '3', '1st': 'x' } },
    });
    await must(`/api/v1/namespaces/${NS}/secrets`, {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db' }, stringData: { password: 's3cret' } },
    });
    await createPod('reader', {
      containers: [
        {
          name: 'app',
          image,
          // Reads the big file every 20 ms and notes its checksum: every read must be a whole version.
          command: ['sh', '-c', 'trap "exit 0" TERM; while true; do md5sum /etc/config/big >> /tmp/sums; sleep 0.02; done'],
          env: [
            { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'mode' } } },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'GREETING', value: 'mode $(MODE) in $(POD_NAME)' },
          ],
          envFrom: [{ configMapRef: { name: 'env-config' } }, { secretRef: { name: 'db' }, prefix: 'DB_' }],
          volumeMounts: [
            { name: 'config', mountPath: '/etc/config' },
            { name: 'secret', mountPath: '/etc/secret' },
          ],
        },
      ],
      volumes: [
        { name: 'config', configMap: { name: 'app-config' } },
        { name: 'secret', secret: { secretName: 'db', defaultMode: 0o400 } },
      ],
    });
    const pod = await running('reader');
    expect(pod.status?.podIP).toMatch(/^10\.244\.\d+\.\d+$/);

    const env = Object.fromEntries((await exec('reader', ['env'])).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env).toMatchObject({ MODE: 'v1', PASSWORD: 's3cret', POD_NAME: 'reader', POD_IP: pod.status!.podIP!, GREETING: 'mode v1 in reader', LEVEL: '3', DB_password: 's3cret' });
    expect(Object.keys(env)).not.toContain('1st');
    const invalid = (await eventsOf('reader')).find((e) => e.reason === 'InvalidEnvironmentVariableNames');
    expect(invalid?.type).toBe('Warning');
    expect(invalid?.message).toBe(`Keys [1st] from the EnvFrom configMap ${NS}/env-config were skipped since they are considered invalid environment variable names.`);

    expect(await exec('reader', ['cat', '/etc/config/mode'])).toBe('v1');
    expect(await exec('reader', ['cat', '/etc/secret/password'])).toBe('s3cret');
    // The kubelet's layout: a timestamped dir, ..data pointing at it, a link per key; modes as asked.
    expect((await exec('reader', ['readlink', '/etc/config/mode'])).trim()).toBe('..data/mode');
    expect((await exec('reader', ['readlink', '/etc/config/..data'])).trim()).toMatch(/^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/);
    expect((await exec('reader', ['stat', '-L', '-c', '%a', '/etc/secret/password', '/etc/config/mode'])).trim().split('\n')).toEqual(['400', '644']);
    // Read-only in the container; the Secret on a tmpfs, never on the node's disk.
    const mounts = (await exec('reader', ['cat', '/proc/mounts'])).split('\n');
    expect(mounts.find((l) => l.split(' ')[1] === '/etc/secret')).toMatch(/^\S+ \/etc\/secret tmpfs ro[, ]/);
    expect(mounts.find((l) => l.split(' ')[1] === '/etc/config')).toMatch(/ ro[, ]/);
    const write = await flotctl(ctl.kubeconfig, ['exec', '-n', NS, 'reader', '--', 'sh', '-c', 'echo x > /etc/config/new']);
    expect(write.code).not.toBe(0);
    expect(write.stderr + write.stdout).toMatch(/Read-only file system/);
  });

  it('an updated ConfigMap reaches the running container within a minute, and no read ever sees a half-written file', async () => {
    const cm = await must(`/api/v1/namespaces/${NS}/configmaps/app-config`);
    const updatedAt = Date.now();
    await must(`/api/v1/namespaces/${NS}/configmaps/app-config`, { method: 'PUT', body: { ...cm, data: { ...cm.data, mode: 'v2', big: BIG_V2 } } });
    // A generous deadline for a liveness check: the agent re-reads every 10 s and syncs every 10 s.
    await eventually('the new mode in the container', async () => ((await exec('reader', ['cat', '/etc/config/mode'])) === 'v2' ? true : undefined), 120_000, 500);
    const tookMs = Date.now() - updatedAt;
    console.log(`[config] the ConfigMap update reached the container's volume in ${(tookMs / 1000).toFixed(1)} s`);
    // Give the reader loop a moment on the new version, then look at every checksum it noted.
    await eventually('the reader on the new version', async () => ((await exec('reader', ['tail', '-n', '1', '/tmp/sums'])).startsWith(md5(BIG_V2)) ? true : undefined), 10_000, 200);
    const sums = (await exec('reader', ['cat', '/tmp/sums'])).trim().split('\n').map((l) => l.split(/\s+/)[0]);
    expect(sums.length).toBeGreaterThan(50);
    expect(sums.filter((s) => s !== md5(BIG_V1) && s !== md5(BIG_V2))).toEqual([]);
    expect(new Set(sums)).toEqual(new Set([md5(BIG_V1), md5(BIG_V2)]));
    // Env is fixed at start (as in Kubernetes) and the container was not restarted for the update.
    expect((await exec('reader', ['sh', '-c', 'echo $MODE'])).trim()).toBe('v1');
    expect((await getPod('reader')).status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });

  it('a pod whose ConfigMap is missing waits with CreateContainerConfigError and an event, and starts once it appears', async () => {
    await createPod('waiter', { containers: [{ name: 'app', image, command: SLEEP, env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'late-config', key: 'mode' } } }] }] });
    const waitingFor = async (message: string) =>
      eventually(`waiter waiting with "${message}"`, async () => {
        const w = (await getPod('waiter')).status?.containerStatuses?.[0]?.state?.waiting;
        return w?.reason === 'CreateContainerConfigError' && w.message === message ? w : undefined;
      }, 60_000, 250).catch((e: Error) => {
        throw new Error(`${e.message}\nagent log:\n${agentLog()}`);
      });
    await waitingFor('configmap "late-config" not found');
    await eventually('the Failed event', async () => (await eventsOf('waiter')).find((e) => e.type === 'Warning' && e.reason === 'Failed' && e.message === 'Error: configmap "late-config" not found'), 20_000, 250);
    expect((await getPod('waiter')).status?.phase).toBe('Pending');

    // It appears without the key: the message names the key.
    await must(`/api/v1/namespaces/${NS}/configmaps`, { method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late-config' }, data: { other: 'x' } } });
    await waitingFor(`couldn't find key mode in ConfigMap ${NS}/late-config`);

    // Then with it: the container starts (the agent retries on its own).
    const cm = await must(`/api/v1/namespaces/${NS}/configmaps/late-config`);
    await must(`/api/v1/namespaces/${NS}/configmaps/late-config`, { method: 'PUT', body: { ...cm, data: { mode: 'late' } } });
    await running('waiter', 90_000);
    expect((await exec('waiter', ['sh', '-c', 'echo $MODE'])).trim()).toBe('late');
  });

  it('a pod whose configMap volume has no ConfigMap waits in ContainerCreating with FailedMount, and starts once it appears', async () => {
    await createPod('mounter', {
      containers: [{ name: 'app', image, command: SLEEP, volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }],
      volumes: [{ name: 'cfg', configMap: { name: 'late-volume', items: [{ key: 'conf', path: 'app/app.conf', mode: 0o600 }] } }],
    });
    await eventually('the FailedMount event', async () =>
      (await eventsOf('mounter')).find((e) => e.type === 'Warning' && e.reason === 'FailedMount' && e.message === 'MountVolume.SetUp failed for volume "cfg" : configmap "late-volume" not found'),
    60_000, 250);
    const p = await getPod('mounter');
    expect(p.status?.phase).toBe('Pending');
    expect(p.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
    await must(`/api/v1/namespaces/${NS}/configmaps`, { method: 'POST', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late-volume' }, data: { conf: 'port=80' } } });
    await running('mounter', 90_000);
    expect(await exec('mounter', ['cat', '/cfg/app/app.conf'])).toBe('port=80');
    expect((await exec('mounter', ['stat', '-L', '-c', '%a', '/cfg/app/app.conf'])).trim()).toBe('600');
  });

  it("deleting a pod removes its volumes from the node: the Secret's tmpfs is unmounted and nothing of it is left", async () => {
    const uid = (await getPod('reader')).metadata.uid!;
    const podDir = join(tmp, 'state', 'pods', uid);
    expect(mountsUnder([podDir])).toEqual([join(podDir, 'volumes', 'secret')]);
    await must(`/api/v1/namespaces/${NS}/pods/reader`, { method: 'DELETE' });
    await eventually('reader gone', async () => ((await api(`/api/v1/namespaces/${NS}/pods/reader`)).status === 404 ? true : undefined), 60_000, 250);
    expect(mountsUnder([podDir])).toEqual([]);
    expect(existsSync(podDir)).toBe(false);
  });
});
