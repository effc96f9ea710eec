// The whole node path: a real controller (compiled, managed etcd), an agent that
// joins it with a bootstrap token and runs pods on the real NodeRuntime (crun,
// conmon, namespaces, cgroups, the test image from a real local registry).
// What a user sees through the API: Running pods, restart counts, image pull
// errors, an agent restart that keeps the containers, and deletion.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Node, type Pod } from '../../api/index.js';
import { Agent } from '../../node-agent/agent.js';
import { ControllerClient } from '../../node-agent/controller-client.js';
import { joinCluster } from '../../node-agent/join/join.js';
import type { NodeCredential } from '../../node-agent/join/credentials.js';
import type { NodeRuntime } from '../../node-agent/node-runtime.js';
import { CONTROLLER_MAIN, controllerApi, startController, type StartedController } from '../helpers/controller.js';
import { startRuntimeFixture, waitFor, type RuntimeFixture } from '../helpers/node-runtime.js';
import { requireBinaries } from '../helpers/require.js';

const log = silentLogger();
let ctl: StartedController;
let fx: RuntimeFixture;
let work: string;
let cred: NodeCredential;
const agents: Agent[] = [];
const NODE = 'rt-node-1';

const api = <T>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl, path, init);

async function startAgent(runtime: NodeRuntime): Promise<Agent> {
  const agent = new Agent({ client: new ControllerClient(cred), runtime, nodeIP: '127.0.0.1', log, heartbeatMs: 500, relistMs: 500 });
  await agent.start();
  agents.push(agent);
  return agent;
}

async function stopAgent(a: Agent): Promise<void> {
  agents.splice(agents.indexOf(a), 1);
  await a.stop();
}

const getPod = async (name: string) => (await api<Pod>(`/api/v1/namespaces/default/pods/${name}`)).body;

async function createPod(name: string, containers: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await api('/api/v1/namespaces/default/pods', {
    method: 'POST',
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: 'default' },
      spec: { nodeName: NODE, terminationGracePeriodSeconds: 2, containers, ...extra },
    },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

beforeAll(async () => {
  requireBinaries('the agent runtime suite', 'etcd');
  if (!existsSync(CONTROLLER_MAIN)) throw new Error(`the agent runtime suite needs the compiled controller (${CONTROLLER_MAIN}): run npm run build`);
  fx = await startRuntimeFixture('the agent runtime suite');
  work = mkdtempSync(join(tmpdir(), 'flotilla-agent-rt-'));
  ctl = await startController();
  cred = await joinCluster({ server: ctl.bootstrapAddress, token: ctl.joinToken, caHash: ctl.caHash, nodeName: NODE, stateDir: work, log });
  await startAgent(fx.runtime);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(agents.map((a) => a.stop()));
  await ctl?.stop();
  await fx?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('[agent] pods on a joined node with the real runtime', () => {
  it('a pod bound to the node becomes Running with its containers started from the registry image', async () => {
    await createPod('web', [
      { name: 'server', image: fx.image, command: ['httpd', '-f', '-p', '8080'] },
      { name: 'sidecar', image: fx.image, command: SLEEP },
    ]);
    const pod = await waitFor('pod web Running and Ready', async () => {
      const p = await getPod('web');
      return p.status?.phase === 'Running' && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? p : undefined;
    }, 60_000);
    expect(pod.status?.hostIP).toBe('127.0.0.1');
    expect(pod.status?.containerStatuses?.map((c) => [c.name, Object.keys(c.state ?? {})[0], c.restartCount]).sort()).toEqual([
      ['server', 'running', 0],
      ['sidecar', 'running', 0],
    ]);
    expect(pod.status?.containerStatuses?.every((c) => c.imageID?.startsWith('sha256:') === true)).toBe(true);
  });

  it('a hostNetwork pod reports the node IP as its pod IP', async () => {
    await createPod('hostnet', [{ name: 'c', image: fx.image, command: SLEEP }], { hostNetwork: true });
    const pod = await waitFor('pod hostnet Running', async () => {
      const p = await getPod('hostnet');
      return p.status?.phase === 'Running' ? p : undefined;
    }, 60_000);
    expect(pod.status).toMatchObject({ podIP: '127.0.0.1', hostIP: '127.0.0.1' });
    const r = await api(`/api/v1/namespaces/default/pods/hostnet`, { method: 'DELETE' });
    expect([200, 202]).toContain(r.status);
  });

  it('a crashing container is restarted by the agent and its restart count goes up', async () => {
    await createPod('crasher', [{ name: 'c', image: fx.image, command: ['sh', '-c', 'echo bye; exit 2'] }]);
    // First start, then one restart at once (back-off 0 for the first), then CrashLoopBackOff.
    const pod = await waitFor('crasher restarted once', async () => {
      const p = await getPod('crasher');
      const c = p.status?.containerStatuses?.[0];
      return c && c.restartCount >= 1 && c.lastState?.terminated ? p : undefined;
    }, 60_000);
    const c = pod.status!.containerStatuses![0]!;
    expect(c.lastState?.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
    await waitFor('crasher in CrashLoopBackOff', async () => (await getPod('crasher')).status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff', 30_000);
  });

  it('a pod whose containers finish stays Succeeded (or Failed) with their exit codes after its sandbox is gone', async () => {
    await createPod('done-ok', [{ name: 'c', image: fx.image, command: ['sh', '-c', 'echo done; exit 0'] }], { restartPolicy: 'OnFailure' });
    await createPod('done-bad', [{ name: 'c', image: fx.image, command: ['sh', '-c', 'exit 3'] }], { restartPolicy: 'Never' });
    for (const [name, phase, code] of [['done-ok', 'Succeeded', 0], ['done-bad', 'Failed', 3]] as const) {
      await waitFor(`${name} ${phase}`, async () => (await getPod(name)).status?.phase === phase, 60_000);
      // The agent tears the sandbox down and keeps reporting; a few relists later nothing has changed.
      const uid = (await getPod(name)).metadata.uid!;
      await waitFor(`${name}'s sandbox torn down`, async () => (await fx.runtime.podStatus({ metadata: { uid } } as Pod)).sandbox === undefined, 30_000);
      await new Promise((r) => setTimeout(r, 1_500));
      const p = await getPod(name);
      expect(p.status?.phase).toBe(phase);
      expect(p.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: code });
    }
  });

  it('an image that is not in the registry shows ErrImagePull or ImagePullBackOff with the registry’s message', async () => {
    await createPod('noimage', [{ name: 'c', image: `${fx.registry.host}/library/nosuch:1.0`, command: SLEEP }]);
    const waiting = await waitFor('noimage waiting on its image', async () => {
      const w = (await getPod('noimage')).status?.containerStatuses?.[0]?.state?.waiting;
      return w && /ErrImagePull|ImagePullBackOff/.test(w.reason ?? '') ? w : undefined;
    }, 30_000);
    expect(waiting.message).toMatch(/manifest unknown/i);
  });

  it('an agent restart re-adopts the running pod: same container ids, no restarts', async () => {
    const before = await getPod('web');
    const ids = before.status!.containerStatuses!.map((c) => c.containerID).sort();
    await stopAgent(agents[0]!);
    const restarted = await startAgent(await fx.reopen());
    // A few relists and heartbeats later, nothing has changed, and the new agent's
    // heartbeats get through (its health check) while the node stays Ready.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(restarted.healthy).toBe(true);
    const nodeReady = (await api<Node>(`/api/v1/nodes/${NODE}`)).body.status?.conditions?.find((c) => c.type === 'Ready');
    expect(nodeReady?.status).toBe('True');
    const after = await getPod('web');
    expect(after.status?.phase).toBe('Running');
    expect(after.status!.containerStatuses!.map((c) => c.containerID).sort()).toEqual(ids);
    expect(after.status!.containerStatuses!.map((c) => c.restartCount)).toEqual([0, 0]);
  });

  it('deleting pods stops their containers and removes their sandboxes from the node', async () => {
    const names = ['web', 'crasher', 'noimage', 'done-ok', 'done-bad'];
    const uids = await Promise.all(names.map(async (n) => (await getPod(n)).metadata.uid!));
    for (const n of names) {
      const r = await api(`/api/v1/namespaces/default/pods/${n}`, { method: 'DELETE' });
      expect([200, 202]).toContain(r.status);
    }
    for (const n of names) {
      await waitFor(`pod ${n} gone from the API`, async () => (await api(`/api/v1/namespaces/default/pods/${n}`)).status === 404, 60_000);
    }
    const left = (await fx.runtime.listPods()).filter((p) => uids.includes(p.uid));
    expect(left).toEqual([]);
  });
});
