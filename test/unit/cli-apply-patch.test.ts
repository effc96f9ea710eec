import { describe, expect, it } from 'vitest';
import { applyStrategicMergePatch } from '../../api/index.js';
import { LAST_APPLIED_ANNOTATION, lastAppliedOf, threeWayMergePatch, withLastApplied, type JsonObject } from '../../cli/apply-patch.js';

const base = (): JsonObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web', tier: 'front' } },
  spec: {
    containers: [
      { name: 'web', image: 'nginx:1.25', ports: [{ containerPort: 80 }], env: [{ name: 'A', value: '1' }] },
      { name: 'side', image: 'busybox', command: ['sleep', '3600'] },
    ],
    restartPolicy: 'Always',
  },
});

/** A live object as the server would hold it after applying `config`: defaults and status added. */
function live(config: JsonObject): JsonObject {
  const o = JSON.parse(JSON.stringify(withLastApplied(config))) as JsonObject;
  (o.metadata as JsonObject).uid = 'u-1';
  (o.metadata as JsonObject).resourceVersion = '7';
  (o.spec as JsonObject).terminationGracePeriodSeconds = 30;
  o.status = { phase: 'Pending' };
  return o;
}

function edit(f: (o: JsonObject & { spec: any; metadata: any }) => void): JsonObject {
  const o = base() as JsonObject & { spec: any; metadata: any };
  f(o);
  return o;
}

describe('apply three-way patch', () => {
  it('applying the same file again gives an empty patch (unchanged)', () => {
    const current = live(base());
    expect(threeWayMergePatch(lastAppliedOf(current), withLastApplied(base()), current)).toEqual({});
  });

  it('server-side defaults and status are left alone', () => {
    const current = live(base());
    const patch = threeWayMergePatch(lastAppliedOf(current), withLastApplied(base()), current);
    expect(patch).not.toHaveProperty('status');
  });

  it.each<[string, (o: any) => void, (patch: any) => void]>([
    [
      'a changed image patches only that container, keyed by name, with the element order',
      (o) => (o.spec.containers[0].image = 'nginx:1.27'),
      (p) => {
        expect(p.spec.containers).toEqual([{ name: 'web', image: 'nginx:1.27' }]);
        expect(p.spec['$setElementOrder/containers']).toEqual([{ name: 'web' }, { name: 'side' }]);
      },
    ],
    [
      'a label removed from the file is deleted with null',
      (o) => delete o.metadata.labels.tier,
      (p) => expect(p.metadata.labels).toEqual({ tier: null }),
    ],
    [
      'a container removed from the file is deleted with $patch: delete',
      (o) => o.spec.containers.pop(),
      (p) => expect(p.spec.containers).toEqual([{ name: 'side', $patch: 'delete' }]),
    ],
    [
      'an added container is sent whole',
      (o) => o.spec.containers.push({ name: 'extra', image: 'redis' }),
      (p) => expect(p.spec.containers).toEqual([{ name: 'extra', image: 'redis' }]),
    ],
    [
      'a list without merge key (command) is replaced whole',
      (o) => (o.spec.containers[1].command = ['sleep', '10']),
      (p) => expect(p.spec.containers).toEqual([{ name: 'side', command: ['sleep', '10'] }]),
    ],
    [
      'an env var removed from a container is deleted by its name',
      (o) => (o.spec.containers[0].env = [{ name: 'B', value: '2' }]),
      (p) => expect(p.spec.containers[0].env).toEqual([{ name: 'A', $patch: 'delete' }, { name: 'B', value: '2' }]),
    ],
    [
      'a port is keyed by containerPort',
      (o) => (o.spec.containers[0].ports = [{ containerPort: 8080 }]),
      (p) => expect(p.spec.containers[0].ports).toEqual([{ containerPort: 80, $patch: 'delete' }, { containerPort: 8080 }]),
    ],
  ])('%s', (_name, change, check) => {
    const current = live(base());
    const modified = withLastApplied(edit(change));
    const patch = threeWayMergePatch(lastAppliedOf(current), modified, current);
    check(patch);
    // the new configuration is recorded
    expect((patch.metadata as any).annotations[LAST_APPLIED_ANNOTATION]).toBe((modified.metadata as any).annotations[LAST_APPLIED_ANNOTATION]);
    // and the server's strategic merge of the patch gives the file's content
    const merged = applyStrategicMergePatch<any>(current, patch);
    const want = edit(change) as any;
    expect(merged.spec.containers).toEqual(want.spec.containers);
    expect(merged.metadata.labels).toEqual(want.metadata.labels);
    expect(merged.spec.terminationGracePeriodSeconds).toBe(30);
  });

  it('a field changed on the server but not in the file is put back (configured)', () => {
    const current = live(base()) as any;
    current.spec.containers[0].image = 'nginx:drifted';
    const patch = threeWayMergePatch(lastAppliedOf(current), withLastApplied(base()), current) as any;
    expect(patch).toEqual({ spec: { containers: [{ name: 'web', image: 'nginx:1.25' }], '$setElementOrder/containers': [{ name: 'web' }, { name: 'side' }] } });
  });

  it('fields someone else added on the server survive when the file never had them', () => {
    const current = live(base()) as any;
    current.metadata.labels.owner = 'ops';
    expect(threeWayMergePatch(lastAppliedOf(current), withLastApplied(base()), current)).toEqual({});
  });

  it('without a last-applied annotation nothing is deleted, only set', () => {
    const current = live(base()) as any;
    delete current.metadata.annotations;
    const patch = threeWayMergePatch(lastAppliedOf(current), withLastApplied(edit((o) => delete o.metadata.labels.tier)), current) as any;
    expect(patch.metadata.labels).toBeUndefined();
    expect(patch.metadata.annotations[LAST_APPLIED_ANNOTATION]).toBeDefined();
  });

  it('the last-applied annotation is canonical JSON of the file without the annotation itself', () => {
    const a = withLastApplied({ kind: 'Pod', apiVersion: 'v1', metadata: { name: 'x', annotations: { note: 'hi' } } });
    const text = (a.metadata as any).annotations[LAST_APPLIED_ANNOTATION] as string;
    expect(text).toBe('{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"note":"hi"},"name":"x"}}\n');
    // re-annotating an already annotated object gives the same text
    expect((withLastApplied(a).metadata as any).annotations[LAST_APPLIED_ANNOTATION]).toBe(text);
  });

  it('finalizers removed from the file are deleted from the union list', () => {
    const withFin = edit((o) => (o.metadata.finalizers = ['a', 'b']));
    const current = live(withFin);
    const patch = threeWayMergePatch(lastAppliedOf(current), withLastApplied(edit((o) => (o.metadata.finalizers = ['a']))), current) as any;
    expect(patch.metadata['$deleteFromPrimitiveList/finalizers']).toEqual(['b']);
  });
});
