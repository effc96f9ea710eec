// The flotilla-agent binary with the real runtime: join with a bootstrap token,
// pull docker.io images from a --registry-mirror on an --insecure-registry, pods under
// --cgroup-parent, loopback-only sandboxes (--no-pod-network); on SIGTERM it exits and leaves the containers running, and
// `flotilla-agent run` re-adopts them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Pod } from '../../api/index.js';
import * as native from '../../native/index.js';
import { CgroupManager, openLayout, pushImage, RegistryClient } from '../../node-agent/index.js';
import { NodeRuntime } from '../../node-agent/node-runtime.js';
import { mountsUnder } from '../../node-agent/sandbox/sandbox-manager.js';
import { CONTROLLER_MAIN, controllerApi, REPO_ROOT, startController, type StartedController } from '../helpers/controller.js';
import { alive, waitFor } from '../helpers/node-runtime.js';
import { buildTestImage, startRegistry, type LocalRegistry } from '../helpers/registry.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const prefix = `flt${randomBytes(3).toString('hex')}`;
const NODE = `cli-${prefix}`;
const cgroupParent = `/flotilla-test-${prefix}`;
let ctl: StartedController;
let registry: LocalRegistry;
let image: string;
let tmp: string;
let agentMain: string;
let agent: ChildProcess | undefined;
let agentLog = '';

const api = <T>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl, path, init);

const getPod = async (name: string) => (await api<Pod>(`/api/v1/namespaces/default/pods/${name}`)).body;

function startAgent(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [agentMain, ...args, '--node-name', NODE, '--node-ip', '127.0.0.1', '--state-dir', join(tmp, 'state'), '--run-dir', join(tmp, 'run'), '--health-port', '0', '--heartbeat-seconds', '1', '--cgroup-parent', cgroupParent, '--insecure-registry', registry.host, '--insecure-registry', '127.0.0.1:1',
    '--registry-mirror', `docker.io=${registry.host}`,
    // This machine's own network must not change: no VXLAN device, bridge or masquerade rules here (the lab suites test those).
    '--no-pod-network'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (b: Buffer) => (agentLog = (agentLog + b.toString()).slice(-200_000)));
  return child;
}

async function stopAgent(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const code = await done;
  clearTimeout(t);
  return code;
}

beforeAll(async () => {
  requireRoot('the agent CLI suite');
  requireBinaries('the agent CLI suite', 'etcd', 'crun', 'conmon', 'docker-registry');
  if (!existsSync(CONTROLLER_MAIN)) throw new Error(`the agent CLI suite needs the compiled controller (${CONTROLLER_MAIN}): run npm run build`);
  tmp = mkdtempSync(join(tmpdir(), `flotilla-agent-cli-${prefix}-`));
  // The agent as plain JS from the current sources (no type-check), under the repo so the addon and pause are found.
  const out = join(REPO_ROOT, 'node_modules', '.cache', `flotilla-agent-cli-${prefix}`);
  execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), [
    '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--resolveJsonModule',
    '--rootDir', REPO_ROOT, '--outDir', out, join(REPO_ROOT, 'node-agent/main.ts'),
  ], { cwd: REPO_ROOT });
  // As hack/postbuild.mjs does for dist/: the .proto files beside the compiled code.
  cpSync(join(REPO_ROOT, 'api', 'proto'), join(out, 'api', 'proto'), { recursive: true });
  agentMain = join(out, 'node-agent', 'main.js');
  registry = await startRegistry();
  const built = buildTestImage(join(tmp, 'image'));
  image = `${registry.host}/library/busybox:1.35`;
  await pushImage(new RegistryClient({ insecureRegistries: [registry.host] }), openLayout(built.dir), undefined, image);
  ctl = await startController();
}, 180_000);

afterAll(async () => {
  if (agent) await stopAgent(agent);
  // Whatever the agent left (a failed test): removed through the runtime on its dirs, then forced.
  if (tmp && existsSync(join(tmp, 'state'))) {
    const rt = await NodeRuntime.create({ stateDir: join(tmp, 'state'), runDir: join(tmp, 'run'), cgroupParent, log: silentLogger() }).catch(() => undefined);
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
  await registry?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  rmSync(join(REPO_ROOT, 'node_modules', '.cache', `flotilla-agent-cli-${prefix}`), { recursive: true, force: true });
}, 120_000);

describe('[agent] flotilla-agent with the real runtime', () => {
  it('joins, runs a busybox:1.35 pod through a --registry-mirror on an --insecure-registry under --cgroup-parent, and leaves it running across a restart', async () => {
    agent = startAgent(['join', '--server', ctl.bootstrapAddress, '--token', ctl.joinToken, '--ca-hash', ctl.caHash]);
    const r = await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'cli-web', namespace: 'default' }, spec: { nodeName: NODE, terminationGracePeriodSeconds: 2, containers: [{ name: 'c', image: 'busybox:1.35', command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] }] } },
    });
    expect(r.status).toBe(201);
    const running = await waitFor('cli-web Running', async () => {
      if (agent!.exitCode !== null) throw new Error(`flotilla-agent exited with ${agent!.exitCode}`);
      const p = await getPod('cli-web');
      return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    }, 60_000).catch((e: Error) => {
      throw new Error(`${e.message}\nagent log:\n${agentLog.slice(-5000)}`);
    });
    const uid = running.metadata.uid!;
    expect(new CgroupManager({ parent: cgroupParent }).existing(`${cgroupParent}/pod${uid}`).length).toBeGreaterThan(0);
    expect(agentLog).toContain('"msg":"pulling image"');

    // SIGTERM: the agent exits, the container keeps running.
    const rt = await NodeRuntime.create({ stateDir: join(tmp, 'state'), runDir: join(tmp, 'run'), cgroupParent, log: silentLogger() });
    const cid = (await rt.podStatus(running)).containers[0]!.id;
    const pid = (await rt.containerRuntime.containers.status(cid)).pid!;
    expect(await stopAgent(agent)).toBe(0);
    expect(alive(pid)).toBe(true);

    // `run` (the credential is in the state dir) re-adopts it: same container, no restart.
    agent = startAgent(['run']);
    await new Promise((res) => setTimeout(res, 3_000));
    const after = await getPod('cli-web');
    expect(after.status?.containerStatuses?.[0]).toMatchObject({ containerID: `flotilla://${cid}`, restartCount: 0, state: { running: expect.anything() } });
    expect(alive(pid)).toBe(true);

    // Deleting the pod removes it from the node.
    await api('/api/v1/namespaces/default/pods/cli-web', { method: 'DELETE' });
    await waitFor('cli-web gone', async () => (await api('/api/v1/namespaces/default/pods/cli-web')).status === 404, 60_000);
    expect(alive(pid)).toBe(false);
    expect((await rt.listPods()).map((p) => p.uid)).not.toContain(uid);
    expect(new CgroupManager({ parent: cgroupParent }).existing(`${cgroupParent}/pod${uid}`)).toEqual([]);
  });
});
