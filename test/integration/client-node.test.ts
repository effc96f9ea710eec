// The official JavaScript client (@kubernetes/client-node), unchanged, against
// the real controller: the typed API creates a namespace from metadata alone
// (no apiVersion/kind in the body), and its informers list and watch pods,
// configmaps and secrets, seeing adds, updates and deletes with no errors.
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type StartedController } from '../helpers/controller.js';
import { requireBinaries } from '../helpers/require.js';

let ctl: StartedController;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
const NS = `cn-${process.pid}`;
const informers: k8s.Informer<k8s.KubernetesObject>[] = [];

async function until(what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  requireBinaries('client-node integration', 'etcd');
  ctl = await startController({ runArgs: ['--no-scheduler'] });
  kc = new k8s.KubeConfig();
  kc.loadFromFile(ctl.kubeconfig);
  core = kc.makeApiClient(k8s.CoreV1Api);
});

afterAll(async () => {
  for (const i of informers) await i.stop();
  await ctl?.stop();
});

describe('[clients] @kubernetes/client-node', () => {
  it('createNamespace({ metadata: { name } }) creates the namespace, as the typed API sends it', async () => {
    const ns = await core.createNamespace({ body: { metadata: { name: NS } } });
    expect(ns.metadata?.name).toBe(NS);
    expect(ns.status?.phase).toBe('Active');
    const read = await core.readNamespace({ name: NS });
    expect(read.kind).toBe('Namespace');
  });

  it.each([
    ['pods', () => core.listNamespacedPod({ namespace: NS })],
    ['configmaps', () => core.listNamespacedConfigMap({ namespace: NS })],
    ['secrets', () => core.listNamespacedSecret({ namespace: NS })],
  ] as const)('an informer of %s lists, then sees add, update and delete, without errors', async (plural, list) => {
    const seen: string[] = [];
    const errors: unknown[] = [];
    const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${NS}/${plural}`, list as () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>);
    informers.push(informer);
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    informer.on('error', (e) => errors.push(e));
    const name = `${plural}-one`;
    // one object before the informer starts (the list), one after (the watch)
    if (plural === 'pods') {
      const pod = (n: string) => ({ metadata: { name: n, labels: { v: '1' } }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } });
      await core.createNamespacedPod({ namespace: NS, body: pod(`${name}-early`) });
      await informer.start();
      await core.createNamespacedPod({ namespace: NS, body: pod(name) });
      await until('the add', () => seen.includes(`add ${name}`));
      await core.patchNamespacedPod({ namespace: NS, name, body: { metadata: { labels: { v: '2' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
      await until('the update', () => seen.includes(`update ${name}`));
      await core.deleteNamespacedPod({ namespace: NS, name });
    } else if (plural === 'configmaps') {
      await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: `${name}-early` }, data: { a: '1' } } });
      await informer.start();
      await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name }, data: { a: '1' } } });
      await until('the add', () => seen.includes(`add ${name}`));
      await core.replaceNamespacedConfigMap({ namespace: NS, name, body: { metadata: { name }, data: { a: '2' } } });
      await until('the update', () => seen.includes(`update ${name}`));
      await core.deleteNamespacedConfigMap({ namespace: NS, name });
    } else {
      await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: `${name}-early` }, stringData: { a: '1' } } });
      await informer.start();
      await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name }, stringData: { a: '1' } } });
      await until('the add', () => seen.includes(`add ${name}`));
      await core.replaceNamespacedSecret({ namespace: NS, name, body: { metadata: { name }, stringData: { a: '2' } } });
      await until('the update', () => seen.includes(`update ${name}`));
      await core.deleteNamespacedSecret({ namespace: NS, name });
    }
    await until('the delete', () => seen.includes(`delete ${name}`));
    expect(seen).toContain(`add ${name}-early`);
    expect(seen.filter((s) => s.endsWith(` ${name}`))).toEqual([`add ${name}`, `update ${name}`, `delete ${name}`]);
    expect(informer.list().map((o) => o.metadata?.name)).toEqual([`${name}-early`]);
    expect(errors).toEqual([]);
  });
});
