// The PodRuntime contract every implementation keeps (the hollow fake in unit
// tests, the real NodeRuntime as root): what the agent's sync loop relies on.
// Call inside a describe(); `make` gives the runtime and a pod factory.
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { Container, Pod } from '../../api/index.js';
import type { PodRuntime } from '../../node-agent/pod-runtime.js';
import { containerSpecHash } from '../../node-agent/sync/plan.js';

export interface ConformanceTarget {
  runtime: PodRuntime;
  /** An image the runtime can start (ignored by the hollow one). */
  image: string;
  /** Waits until the condition holds (real containers take a moment to exit). */
  eventually<T>(what: string, fn: () => Promise<T | undefined | false>): Promise<T>;
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

function pod(image: string, name: string, containers: string[]): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `conf-${name}-${randomUUID().slice(0, 6)}`, namespace: 'default', uid: randomUUID() },
    spec: { containers: containers.map((n): Container => ({ name: n, image, imagePullPolicy: 'IfNotPresent', command: SLEEP })) },
  };
}

export function podRuntimeConformance(target: () => ConformanceTarget): void {
  it('[contract] an unknown pod has no sandbox and no containers', async () => {
    const { runtime } = target();
    const uid = randomUUID();
    expect(await runtime.podStatus({ metadata: { uid } } as Pod)).toEqual({ uid, containers: [] });
    expect((await runtime.listPods()).map((p) => p.uid)).not.toContain(uid);
  });

  it('[contract] a sandbox is ready and its containers run in it with their restart count and spec hash', async () => {
    const { runtime, image } = target();
    const p = pod(image, 'run', ['a', 'b']);
    const sandbox = await runtime.createSandbox(p);
    expect(sandbox.state).toBe('ready');
    expect(sandbox.id).toMatch(/^[0-9a-f]+$/);
    await runtime.startContainer(p, sandbox, p.spec.containers[0]!, 0);
    await runtime.startContainer(p, sandbox, p.spec.containers[1]!, 4);
    const st = await runtime.podStatus(p);
    expect(st.uid).toBe(p.metadata.uid);
    expect(st.sandbox).toMatchObject({ id: sandbox.id, state: 'ready' });
    const byName = Object.fromEntries(st.containers.map((c) => [c.name, c]));
    expect(byName.a).toMatchObject({ state: 'running', sandboxId: sandbox.id, restartCount: 0, image, specHash: containerSpecHash(p.spec.containers[0]!) });
    expect(byName.b).toMatchObject({ state: 'running', restartCount: 4 });
    expect(byName.a!.id).not.toBe(byName.b!.id);
    expect((await runtime.listPods()).find((x) => x.uid === p.metadata.uid)).toEqual(st);
    await runtime.killPod(p, 0);
  });

  it('[contract] a stopped container stays, exited with its code, and a new instance replaces it as the latest', async () => {
    const { runtime, image, eventually } = target();
    const p = pod(image, 'stop', ['a']);
    const sandbox = await runtime.createSandbox(p);
    await runtime.startContainer(p, sandbox, p.spec.containers[0]!, 0);
    const first = (await runtime.podStatus(p)).containers[0]!;
    await runtime.stopContainer(p, first.id, 5);
    const stopped = await eventually('the container to be exited', async () => {
      const c = (await runtime.podStatus(p)).containers[0];
      return c?.state === 'exited' ? c : undefined;
    });
    expect(stopped).toMatchObject({ id: first.id, exitCode: 0, reason: 'Completed' });
    await runtime.startContainer(p, sandbox, p.spec.containers[0]!, 1);
    const st = await runtime.podStatus(p);
    expect(st.containers).toHaveLength(1);
    expect(st.containers[0]).toMatchObject({ state: 'running', restartCount: 1 });
    expect(st.containers[0]!.id).not.toBe(first.id);
    await runtime.killPod(p, 0);
  });

  it('[contract] killPod removes the pod, is idempotent, and takes a bare uid', async () => {
    const { runtime, image } = target();
    const p = pod(image, 'kill', ['a']);
    const sandbox = await runtime.createSandbox(p);
    await runtime.startContainer(p, sandbox, p.spec.containers[0]!, 0);
    await runtime.killPod({ metadata: { uid: p.metadata.uid! } }, 0);
    expect(await runtime.podStatus(p)).toEqual({ uid: p.metadata.uid, containers: [] });
    expect((await runtime.listPods()).map((x) => x.uid)).not.toContain(p.metadata.uid);
    await runtime.killPod(p, 0);
  });
}
