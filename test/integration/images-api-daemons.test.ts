// The same image path through the shipped daemons, as a user runs them: the
// compiled flotilla-controller (runController wires the node image routes) and
// the compiled flotilla-agent (main.ts serves the image RPCs on its stream port;
// runtime-factory sends pull events to the controller), flotctl in between. No
// registry at all: the image arrives as a tar, as on an air-gapped host.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Node, type Pod } from '../../api/index.js';
import * as native from '../../native/index.js';
import { CgroupManager } from '../../node-agent/index.js';
import { NodeRuntime } from '../../node-agent/node-runtime.js';
import { mountsUnder } from '../../node-agent/sandbox/sandbox-manager.js';
import { CONTROLLER_MAIN, controllerApi, freeTcpPort, REPO_ROOT, startController, type StartedController } from '../helpers/controller.js';
import { waitFor } from '../helpers/node-runtime.js';
import { buildTestImage } from '../helpers/registry.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const AGENT_MAIN = join(REPO_ROOT, 'dist/node-agent/main.js');
const CLI_MAIN = join(REPO_ROOT, 'dist/cli/main.js');
const prefix = `flt${randomBytes(3).toString('hex')}`;
const NODE = `img-${prefix}`;
const cgroupParent = `/flotilla-test-${prefix}`;
let ctl: StartedController;
let tmp: string;
let tarFile: string;
let agent: ChildProcess | undefined;
let agentLog = '';

const api = <T>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl, path, init);

function flotctl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { env: { PATH: process.env.PATH, HOME: tmp, KUBECONFIG: ctl.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function stopAgent(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await done;
  clearTimeout(t);
}

beforeAll(async () => {
  requireRoot('the image daemons suite');
  requireBinaries('the image daemons suite', 'etcd', 'crun', 'conmon');
  for (const f of [CONTROLLER_MAIN, AGENT_MAIN, CLI_MAIN]) if (!existsSync(f)) throw new Error(`the image daemons suite needs ${f}: run npm run build`);
  tmp = mkdtempSync(join(tmpdir(), `flotilla-images-daemons-${prefix}-`));
  tarFile = join(tmp, 'busybox.tar');
  buildTestImage(join(tmp, 'layout'), { name: 'busybox:1.35', tar: tarFile });
  ctl = await startController();
  const streamPort = await freeTcpPort();
  agent = spawn(
    process.execPath,
    [AGENT_MAIN, 'join', '--server', ctl.bootstrapAddress, '--token', ctl.joinToken, '--ca-hash', ctl.caHash, '--node-name', NODE, '--node-ip', '127.0.0.1',
      '--state-dir', join(tmp, 'state'), '--run-dir', join(tmp, 'run'), '--health-port', '0', '--heartbeat-seconds', '1', '--cgroup-parent', cgroupParent,
      '--stream-port', String(streamPort),
      // This machine's own network must not change (the lab suites test the pod network).
      '--no-pod-network'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  agent.stderr!.on('data', (b: Buffer) => (agentLog = (agentLog + b.toString()).slice(-200_000)));
  await waitFor('the node Ready', async () => {
    if (agent!.exitCode !== null) throw new Error(`flotilla-agent exited with ${agent!.exitCode}: ${agentLog.slice(-3000)}`);
    const n = (await api<Node>(`/api/v1/nodes/${NODE}`)).body;
    return n?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  }, 60_000);
}, 180_000);

afterAll(async () => {
  if (agent) await stopAgent(agent);
  // What the agent left running: removed through the runtime on its dirs, then forced.
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
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 120_000);

describe('[images] flotctl image with the flotilla-controller and flotilla-agent daemons', () => {
  it('an image imported from a tar runs a Never pod, lists, and exports back; the pod shows "already present on machine"', async () => {
    expect(await flotctl(['image', 'import', tarFile])).toEqual({ code: 0, stdout: `imported busybox:1.35 on ${NODE}\n`, stderr: '' });

    const created = await api('/api/v1/namespaces/default/pods', {
      method: 'POST',
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'airgapped', namespace: 'default' },
        spec: { nodeName: NODE, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox:1.35', imagePullPolicy: 'Never', command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'] }] },
      },
    });
    expect(created.status).toBe(201);
    await waitFor('the pod running', async () => ((await api<Pod>('/api/v1/namespaces/default/pods/airgapped')).body.status?.containerStatuses?.[0]?.state?.running ? true : undefined), 60_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}\nagent log:\n${agentLog.slice(-5000)}`);
      },
    );
    const described = await waitFor('the pull event', async () => {
      const d = await flotctl(['describe', 'pod', 'airgapped']);
      return d.stdout.includes('already present') ? d.stdout : undefined;
    });
    expect(described).toMatch(/Normal +Pulled .*flotilla-agent +Container image "busybox:1\.35" already present on machine\n/);

    const list = await flotctl(['image', 'list', '--node', NODE]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^REPOSITORY +TAG +DIGEST +SIZE\nbusybox +1\.35 +sha256:[0-9a-f]{12} +\d/);

    const out = join(tmp, 'back.tar');
    expect((await flotctl(['image', 'export', 'busybox:1.35', '-o', out, '--node', NODE])).code).toBe(0);
    const entries: string[] = [];
    await tar.t({ file: out, onReadEntry: (e) => void entries.push(e.path) });
    expect(entries).toEqual(expect.arrayContaining(['oci-layout', 'index.json']));
    expect(entries.filter((p) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(p))).toHaveLength(4);
  });
});
