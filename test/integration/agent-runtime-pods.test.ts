// The node runtime on real crun, conmon, namespaces and cgroups, with the test
// image pulled from a real local registry: what a pod on a node must be.
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hostname as osHostname } from 'node:os';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../api/index.js';
import { ContainerStartError } from '../../node-agent/pod-runtime.js';
import type { NodeRuntime } from '../../node-agent/node-runtime.js';
import { startRuntimeFixture, waitFor, type RuntimeFixture } from '../helpers/node-runtime.js';
import { podRuntimeConformance } from '../helpers/pod-runtime-conformance.js';

async function execIn(rt: NodeRuntime, pod: Pod, container: string, command: string[], stdin?: string) {
  let out = '';
  let err = '';
  const code = await rt.exec(pod, container, {
    command,
    ...(stdin !== undefined ? { stdin: (async function* () { yield new TextEncoder().encode(stdin); })() } : {}),
    onStdout: (b) => (out += Buffer.from(b).toString('utf8')),
    onStderr: (b) => (err += Buffer.from(b).toString('utf8')),
  });
  return { code, out, err };
}

async function startPod(rt: NodeRuntime, pod: Pod) {
  const sandbox = await rt.createSandbox(pod);
  for (const c of pod.spec.containers) await rt.startContainer(pod, sandbox, c, 0);
  return sandbox;
}

async function logsOf(rt: NodeRuntime, pod: Pod, container: string, previous = false): Promise<string> {
  let s = '';
  for await (const b of rt.containerLogs(pod, container, { previous })) s += Buffer.from(b).toString('utf8');
  return s;
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

describe('[node runtime] pods on crun with sandboxes', () => {
  let fx: RuntimeFixture;
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const log = pino({ level: 'info' }, { write: (s: string) => void logLines.push(JSON.parse(s) as Record<string, unknown>) });
    fx = await startRuntimeFixture('the node runtime suite', { log });
  });

  it("the first pod's image is pulled from the registry and the pull shows in the agent's log", async () => {
    const pod = fx.pod('first', [{ name: 'c', command: SLEEP }]);
    await startPod(fx.runtime, pod);
    const msgs = logLines.map((l) => [l.msg, l.image]);
    expect(msgs).toContainEqual(['pulling image', fx.image]);
    expect(msgs).toContainEqual(['image pulled', fx.image]);
    expect(logLines.find((l) => l.msg === 'container started')).toMatchObject({ component: 'pod-runtime', container: 'c', restartCount: 0 });
    // A cached image is not pulled again.
    const before = logLines.length;
    const again = fx.pod('second', [{ name: 'c', command: SLEEP }]);
    await startPod(fx.runtime, again);
    expect(logLines.slice(before).some((l) => l.msg === 'pulling image')).toBe(false);
    await fx.runtime.killPod(pod, 0);
    await fx.runtime.killPod(again, 0);
  });

  afterAll(async () => {
    await fx?.cleanup();
  });

  it("a pod's containers run in one pinned network namespace and one IPC namespace, with the pod's hostname", async () => {
    const pod = fx.pod('web', [
      { name: 'server', command: ['httpd', '-f', '-p', '8080', '-h', '/www'] },
      { name: 'client', command: SLEEP },
    ]);
    const sandbox = await startPod(fx.runtime, pod);
    expect(sandbox.state).toBe('ready');
    expect(sandbox.ip).toBeUndefined(); // no pod network given: loopback only

    const st = await fx.runtime.podStatus(pod);
    expect(st.containers.map((c) => [c.name, c.state, c.sandboxId])).toEqual(
      expect.arrayContaining([
        ['server', 'running', sandbox.id],
        ['client', 'running', sandbox.id],
      ]),
    );
    const pin = fx.runtime.layout.netnsPin(sandbox.id);
    const pinInode = statSync(pin).ino;
    const net1 = await execIn(fx.runtime, pod, 'server', ['readlink', '/proc/self/ns/net']);
    const net2 = await execIn(fx.runtime, pod, 'client', ['readlink', '/proc/self/ns/net']);
    expect(net1.out.trim()).toBe(`net:[${pinInode}]`);
    expect(net2.out).toBe(net1.out);
    const ipc1 = await execIn(fx.runtime, pod, 'server', ['readlink', '/proc/self/ns/ipc']);
    const ipc2 = await execIn(fx.runtime, pod, 'client', ['readlink', '/proc/self/ns/ipc']);
    expect(ipc2.out).toBe(ipc1.out);
    expect(ipc1.out.trim()).not.toBe(readlinkSync('/proc/self/ns/ipc'));
    // …and one /dev/shm.
    expect((await execIn(fx.runtime, pod, 'server', ['sh', '-c', 'echo shared-memory > /dev/shm/token'])).code).toBe(0);
    expect((await execIn(fx.runtime, pod, 'client', ['cat', '/dev/shm/token'])).out).toBe('shared-memory\n');

    // One network namespace: the client reaches the server on loopback.
    const page = await waitFor('the server to answer on 127.0.0.1:8080', async () => {
      const r = await execIn(fx.runtime, pod, 'client', ['wget', '-qO-', 'http://127.0.0.1:8080/']);
      return r.code === 0 ? r.out : undefined;
    });
    expect(page.length).toBeGreaterThan(0);
    // Only loopback: no other interface.
    const links = await execIn(fx.runtime, pod, 'client', ['ls', '/sys/class/net']);
    expect(links.out.split(/\s+/).filter(Boolean)).toEqual(['lo']);

    for (const c of ['server', 'client']) {
      expect((await execIn(fx.runtime, pod, c, ['hostname'])).out.trim()).toBe(pod.metadata.name);
      expect((await execIn(fx.runtime, pod, c, ['cat', '/etc/hostname'])).out.trim()).toBe(pod.metadata.name);
    }
    // Each container has its own PID namespace unless the pod shares one.
    expect((await execIn(fx.runtime, pod, 'client', ['cat', '/proc/1/cmdline'])).out).toContain('sh');
  });

  it('with shareProcessNamespace, pause is PID 1 of the pod and the containers see each other', async () => {
    const pod = fx.pod('shared', [
      { name: 'a', command: SLEEP },
      { name: 'b', command: SLEEP },
    ], { shareProcessNamespace: true });
    await startPod(fx.runtime, pod);
    const init = await execIn(fx.runtime, pod, 'a', ['cat', '/proc/1/cmdline']);
    expect(init.out.replace(/\0/g, ' ').trim()).toBe('/pause');
    const ps = await execIn(fx.runtime, pod, 'b', ['ps', '-o', 'pid,args']);
    expect(ps.out.match(/while true/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });

  it('an emptyDir is shared by the containers of a pod and exec passes stdin through', async () => {
    const pod = fx.pod(
      'share',
      [
        { name: 'writer', command: ['sh', '-c', 'echo hello-from-writer > /data/greeting; trap "exit 0" TERM; while true; do sleep 1; done'], volumeMounts: [{ name: 'scratch', mountPath: '/data' }] },
        { name: 'reader', command: SLEEP, volumeMounts: [{ name: 'scratch', mountPath: '/shared' }] },
      ],
      { volumes: [{ name: 'scratch', emptyDir: {} }] },
    );
    await startPod(fx.runtime, pod);
    const got = await waitFor('the reader to see the writer’s file', async () => {
      const r = await execIn(fx.runtime, pod, 'reader', ['cat', '/shared/greeting']);
      return r.code === 0 ? r.out : undefined;
    });
    expect(got).toBe('hello-from-writer\n');
    const w = await execIn(fx.runtime, pod, 'reader', ['sh', '-c', 'cat > /shared/back; echo done'], 'from stdin\n');
    expect(w).toMatchObject({ code: 0, out: 'done\n' });
    expect((await execIn(fx.runtime, pod, 'writer', ['cat', '/data/back'])).out).toBe('from stdin\n');
    expect((await execIn(fx.runtime, pod, 'writer', ['sh', '-c', 'echo oops >&2; exit 7']))).toMatchObject({ code: 7, err: 'oops\n' });
    expect((await execIn(fx.runtime, pod, 'writer', ['no-such-tool'])).code).toBe(127);

    // With a tty the command runs on a terminal (kubectl exec -t): stdout and stderr merged, CRLF, exit code kept.
    let tty = '';
    const code = await fx.runtime.exec(pod, 'writer', {
      command: ['sh', '-c', "test -t 0 && test -t 1 && echo on-a-tty; echo 'it''s' >&2; exit 5"],
      tty: true,
      onStdout: (b) => (tty += Buffer.from(b).toString('utf8')),
      onStderr: (b) => (tty += Buffer.from(b).toString('utf8')),
    });
    expect([code, tty]).toEqual([5, 'on-a-tty\r\nits\r\n']);
  });

  it('container logs: all lines, the last N, timestamps, and a follow that ends when the container exits', async () => {
    const pod = fx.pod('logs', [{ name: 'talker', command: ['sh', '-c', 'for i in 1 2 3; do echo line-$i; done; echo err-line >&2; sleep 1; echo last; exit 0'] }], { restartPolicy: 'Never' });
    await startPod(fx.runtime, pod);
    let followed = '';
    for await (const b of fx.runtime.containerLogs(pod, 'talker', { follow: true })) followed += Buffer.from(b).toString('utf8');
    expect(followed).toBe('line-1\nline-2\nline-3\nerr-line\nlast\n');
    expect(await logsOf(fx.runtime, pod, 'talker')).toBe(followed);
    let tail = '';
    for await (const b of fx.runtime.containerLogs(pod, 'talker', { tailLines: 2, timestamps: true })) tail += Buffer.from(b).toString('utf8');
    expect(tail).toMatch(/^\d{4}-\d\d-\d\dT\S+ err-line\n\S+ last\n$/);
    const read = async (opts: Parameters<NodeRuntime['containerLogs']>[2]) => {
      let out = '';
      for await (const b of fx.runtime.containerLogs(pod, 'talker', opts)) out += Buffer.from(b).toString('utf8');
      return out;
    };
    expect(await read({ sinceSeconds: 3600 })).toBe(followed);
    expect(await read({ limitBytes: 10 })).toBe('line-1\nlin');
    expect(() => fx.runtime.containerLogs(pod, 'talker', { previous: true })).toThrow(/previous terminated container "talker"/);
    expect(() => fx.runtime.containerLogs(pod, 'nosuch', {})).toThrow(/container "nosuch" in pod/);
    await fx.runtime.killPod(pod, 0);
  });

  it('a missing image fails with ErrImagePull and the registry’s message', async () => {
    const pod = fx.pod('noimage', [{ name: 'c', image: `${fx.registry.host}/library/nosuch:1.0`, command: SLEEP }]);
    const sandbox = await fx.runtime.createSandbox(pod);
    const err = await fx.runtime.startContainer(pod, sandbox, pod.spec.containers[0]!, 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerStartError);
    expect((err as ContainerStartError).reason).toBe('ErrImagePull');
    expect((err as ContainerStartError).message).toMatch(/manifest unknown/i);
    expect((await fx.runtime.podStatus(pod)).containers).toEqual([]);
    await fx.runtime.killPod(pod, 0);
  });

  it('a command that does not exist, a hostPath that does not exist and a memory limit too low to start are clear start errors', async () => {
    const pod = fx.pod('bad', [
      { name: 'nocmd', command: ['/no/such/binary'] },
      { name: 'nohostpath', command: SLEEP, volumeMounts: [{ name: 'h', mountPath: '/h' }] },
      { name: 'lowmem', command: SLEEP, resources: { limits: { memory: '100Ki' } } },
    ], { volumes: [{ name: 'h', hostPath: { path: `/nonexistent-${fx.prefix}` } }] });
    const sandbox = await fx.runtime.createSandbox(pod);
    const e1 = (await fx.runtime.startContainer(pod, sandbox, pod.spec.containers[0]!, 0).catch((e: unknown) => e)) as ContainerStartError;
    expect(e1).toBeInstanceOf(ContainerStartError);
    expect(e1.reason).toBe('RunContainerError');
    expect(e1.message).toMatch(/no\/such\/binary/);
    const e2 = (await fx.runtime.startContainer(pod, sandbox, pod.spec.containers[1]!, 0).catch((e: unknown) => e)) as ContainerStartError;
    expect(e2.reason).toBe('CreateContainerConfigError');
    expect(e2.message).toContain(`/nonexistent-${fx.prefix} does not exist`);
    const e3 = (await fx.runtime.startContainer(pod, sandbox, pod.spec.containers[2]!, 0).catch((e: unknown) => e)) as ContainerStartError;
    expect(e3.reason).toBe('RunContainerError');
    expect(e3.message).toMatch(/memory limit could be too low/);
    // Nothing of the failed containers stays: no record, no rootfs.
    expect((await fx.runtime.podStatus(pod)).containers).toEqual([]);
    const rootfsDirs = readdirSync(join(fx.stateDir, 'images', 'rootfs'));
    expect(rootfsDirs.filter((id) => !fx.runtime.containerRuntime.containers.metadata(id))).toEqual([]);
    await fx.runtime.killPod(pod, 0);

    // The pod cgroup's limit is the sum of its containers' limits, as in Kubernetes: too low even for pause.
    const tiny = fx.pod('tiny', [{ name: 'c', command: SLEEP, resources: { limits: { memory: '100Ki' } } }]);
    await expect(fx.runtime.createSandbox(tiny)).rejects.toThrow(/memory limit could be too low/);
    expect(await fx.runtime.podStatus(tiny)).toEqual({ uid: tiny.metadata.uid, containers: [] });
    expect(fx.runtime.sandboxes.records(tiny.metadata.uid!)).toEqual([]);
    expect((await fx.runtime.listPods()).map((p) => p.uid)).not.toContain(tiny.metadata.uid);
  });

  it('with --runtime runc the same pod runs on runc, and containers made by crun stay managed by crun', async () => {
    const onRunc = await fx.reopen({ runtimeName: 'runc' });
    const pod = fx.pod('runc', [{ name: 'a', command: SLEEP }, { name: 'b', command: SLEEP }]);
    await startPod(onRunc, pod);
    const st = await onRunc.podStatus(pod);
    expect(st.sandbox?.state).toBe('ready');
    for (const c of st.containers) expect(onRunc.containerRuntime.containers.metadata(c.id)?.runtime).toBe('runc');
    const n1 = await execIn(onRunc, pod, 'a', ['readlink', '/proc/self/ns/net']);
    const n2 = await execIn(onRunc, pod, 'b', ['readlink', '/proc/self/ns/net']);
    expect(n1.out).toBe(n2.out);
    expect((await execIn(onRunc, pod, 'b', ['hostname'])).out.trim()).toBe(pod.metadata.name);
    // A crun pod made earlier by this fixture is still seen (and would be stopped) through crun.
    const others = (await onRunc.listPods()).filter((p) => p.uid !== pod.metadata.uid && p.containers.some((c) => c.state === 'running'));
    expect(others.length).toBeGreaterThan(0);
    await onRunc.killPod(pod, 0);
  });

  it('a hostNetwork pod runs in the host network namespace with the host’s name', async () => {
    const pod = fx.pod('hostnet', [{ name: 'c', command: SLEEP }], { hostNetwork: true });
    const sandbox = await startPod(fx.runtime, pod);
    expect(sandbox).toMatchObject({ state: 'ready' });
    expect(sandbox.ip).toBeUndefined();
    expect((await execIn(fx.runtime, pod, 'c', ['readlink', '/proc/self/ns/net'])).out.trim()).toBe(readlinkSync('/proc/self/ns/net'));
    expect((await execIn(fx.runtime, pod, 'c', ['hostname'])).out.trim()).toBe(osHostname());
    await fx.runtime.killPod(pod, 0);
  });
});

describe('[node runtime] the PodRuntime contract', () => {
  let fx: RuntimeFixture;
  beforeAll(async () => {
    fx = await startRuntimeFixture('the PodRuntime contract suite on the node runtime');
  });
  afterAll(async () => {
    await fx?.cleanup();
  });
  podRuntimeConformance(() => ({ runtime: fx.runtime, image: fx.image, eventually: (what, fn) => waitFor(what, fn) }));
});
