import { describe, expect, it } from 'vitest';
import { applyJsonMergePatch, applyJsonPatch, applyStrategicMergePatch, BadRequestError, deepClone } from '../../api/index.js';

describe('[api] JSON merge patch (RFC 7386)', () => {
  // the examples of RFC 7386 appendix A
  it.each<[unknown, unknown, unknown]>([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('patches %j with %j into %j', (target, patch, want) => {
    const before = deepClone(target);
    expect(applyJsonMergePatch(target, patch)).toEqual(want);
    expect(target).toEqual(before);
  });
});

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', labels: { app: 'web', tier: 'fe' }, finalizers: ['a'] },
  spec: {
    containers: [
      {
        name: 'web',
        image: 'nginx:1.25',
        env: [
          { name: 'A', value: '1' },
          { name: 'B', value: '2' },
        ],
        ports: [{ containerPort: 80, protocol: 'TCP' }],
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
        command: ['nginx', '-g'],
      },
      { name: 'side', image: 'busybox' },
    ],
    volumes: [{ name: 'data', emptyDir: {} }],
    tolerations: [{ key: 'a', operator: 'Exists' }],
  },
  status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'PodScheduled', status: 'True' }] },
};

describe('[api] strategic merge patch', () => {
  it('merges containers by name, changing only what the patch names', () => {
    const out = applyStrategicMergePatch<typeof POD>(POD, { spec: { containers: [{ name: 'web', image: 'nginx:1.26' }] } });
    expect(out.spec.containers.map((c) => [c.name, c.image])).toEqual([
      ['web', 'nginx:1.26'],
      ['side', 'busybox'],
    ]);
    expect(out.spec.containers[0]!.env).toEqual(POD.spec.containers[0]!.env);
  });

  it('appends list elements with a new merge key and merges nested lists by their own keys', () => {
    const out = applyStrategicMergePatch<any>(POD, {
      spec: {
        containers: [
          { name: 'web', env: [{ name: 'B', value: '3' }, { name: 'C', value: '4' }], ports: [{ containerPort: 443 }] },
          { name: 'new', image: 'redis' },
        ],
      },
    });
    expect(out.spec.containers.map((c: any) => c.name)).toEqual(['web', 'side', 'new']);
    expect(out.spec.containers[0].env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '3' },
      { name: 'C', value: '4' },
    ]);
    expect(out.spec.containers[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP' }, { containerPort: 443 }]);
  });

  it('replaces lists without a merge key (command, tolerations) and merges status conditions by type', () => {
    const out = applyStrategicMergePatch<any>(POD, {
      spec: { containers: [{ name: 'web', command: ['sh'] }], tolerations: [{ key: 'b', operator: 'Exists' }] },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    expect(out.spec.containers[0].command).toEqual(['sh']);
    expect(out.spec.tolerations).toEqual([{ key: 'b', operator: 'Exists' }]);
    expect(out.status.conditions).toEqual([
      { type: 'Ready', status: 'True' },
      { type: 'PodScheduled', status: 'True' },
    ]);
  });

  it('deletes list elements and map keys', () => {
    const out = applyStrategicMergePatch<any>(POD, {
      metadata: { labels: { tier: null } },
      spec: { containers: [{ name: 'side', $patch: 'delete' }, { name: 'web', env: [{ name: 'A', $patch: 'delete' }] }] },
    });
    expect(out.metadata.labels).toEqual({ app: 'web' });
    expect(out.spec.containers.map((c: any) => c.name)).toEqual(['web']);
    expect(out.spec.containers[0].env).toEqual([{ name: 'B', value: '2' }]);
  });

  it('replaces a whole list or map on `$patch: replace`, and drops a map on `$patch: delete`', () => {
    const out = applyStrategicMergePatch<any>(POD, {
      metadata: { labels: { $patch: 'replace', only: 'this' } },
      spec: { volumes: [{ name: 'cache', emptyDir: {} }, { $patch: 'replace' }] },
      status: { $patch: 'delete' },
    });
    expect(out.metadata.labels).toEqual({ only: 'this' });
    expect(out.spec.volumes).toEqual([{ name: 'cache', emptyDir: {} }]);
    expect(out.status).toBeUndefined();
  });

  it('unions merge-strategy scalar lists and honours $deleteFromPrimitiveList and $setElementOrder', () => {
    const out = applyStrategicMergePatch<any>(POD, {
      metadata: { finalizers: ['b', 'a'] },
      spec: { '$setElementOrder/containers': [{ name: 'side' }, { name: 'web' }] },
    });
    expect(out.metadata.finalizers).toEqual(['a', 'b']);
    expect(out.spec.containers.map((c: any) => c.name)).toEqual(['side', 'web']);
    const removed = applyStrategicMergePatch<any>(out, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } });
    expect(removed.metadata.finalizers).toEqual(['b']);
  });

  it('keeps only $retainKeys and the patched keys of a map', () => {
    const out = applyStrategicMergePatch<any>({ v: { emptyDir: {}, name: 'x', other: 1 } }, { v: { $retainKeys: ['name', 'hostPath'], hostPath: { path: '/d' } } });
    expect(out).toEqual({ v: { name: 'x', hostPath: { path: '/d' } } });
  });

  it('never mutates the target', () => {
    const before = deepClone(POD);
    applyStrategicMergePatch(POD, { spec: { containers: [{ name: 'web', image: 'x' }, { name: 'side', $patch: 'delete' }] } });
    expect(POD).toEqual(before);
  });

  it.each<[string, unknown, string]>([
    ['a non-object patch', ['x'], 'strategic merge patch must be a JSON object'],
    ['a list element without its merge key', { spec: { containers: [{ image: 'x' }] } }, 'map: {"image":"x"} does not contain declared merge key: name'],
    ['an unknown directive', { spec: { $patch: 'explode' } }, 'unknown patch type: "explode" in map at spec'],
  ])('refuses %s', (_what, patch, message) => {
    expect(() => applyStrategicMergePatch(POD, patch)).toThrow(BadRequestError);
    expect(() => applyStrategicMergePatch(POD, patch)).toThrow(message);
  });
});

describe('[api] JSON patch (RFC 6902)', () => {
  it.each<[string, unknown, unknown[], unknown]>([
    ['add a key', { a: 1 }, [{ op: 'add', path: '/b', value: 2 }], { a: 1, b: 2 }],
    ['add into an array', { a: [1, 3] }, [{ op: 'add', path: '/a/1', value: 2 }], { a: [1, 2, 3] }],
    ['append with -', { a: [1] }, [{ op: 'add', path: '/a/-', value: 2 }], { a: [1, 2] }],
    ['remove', { a: 1, b: 2 }, [{ op: 'remove', path: '/a' }], { b: 2 }],
    ['replace', { a: { b: 1 } }, [{ op: 'replace', path: '/a/b', value: 5 }], { a: { b: 5 } }],
    ['move', { a: { b: 1 }, c: {} }, [{ op: 'move', from: '/a/b', path: '/c/d' }], { a: {}, c: { d: 1 } }],
    ['copy', { a: [1] }, [{ op: 'copy', from: '/a', path: '/b' }], { a: [1], b: [1] }],
    ['test then replace', { a: 'x' }, [{ op: 'test', path: '/a', value: 'x' }, { op: 'replace', path: '/a', value: 'y' }], { a: 'y' }],
    ['escaped keys', { 'a/b': 1, 'c~d': 2 }, [{ op: 'remove', path: '/a~1b' }, { op: 'replace', path: '/c~0d', value: 3 }], { 'c~d': 3 }],
    ['a label with a slash', { metadata: { labels: {} } }, [{ op: 'add', path: '/metadata/labels/example.com~1app', value: 'web' }], { metadata: { labels: { 'example.com/app': 'web' } } }],
    ['replace the whole document', { a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }], { b: 2 }],
  ])('can %s', (_what, target, ops, want) => {
    const before = deepClone(target);
    expect(applyJsonPatch(target, ops)).toEqual(want);
    expect(target).toEqual(before);
  });

  it.each<[string, unknown, string]>([
    ['a failed test', [{ op: 'test', path: '/a', value: 2 }], 'JSON patch test operation failed at "/a"'],
    ['a missing path', [{ op: 'remove', path: '/nope' }], 'JSON pointer "/nope": path does not exist'],
    ['a path through a missing parent', [{ op: 'add', path: '/x/y', value: 1 }], 'JSON pointer "/x/y": path does not exist'],
    ['an index out of bounds', [{ op: 'add', path: '/l/5', value: 1 }], 'JSON pointer "/l/5": index 5 is out of bounds'],
    ['a pointer without a slash', [{ op: 'add', path: 'a', value: 1 }], 'JSON pointer "a" must start with "/"'],
    ['an unknown op', [{ op: 'frob', path: '/a' }], 'JSON patch operation 0: unknown op "frob"'],
    ['a missing value', [{ op: 'add', path: '/b' }], 'JSON patch operation 0 (add): "value" is missing'],
    ['not a list', { op: 'add' }, 'JSON patch must be a list of operations'],
    ['a move into itself', [{ op: 'move', from: '/l', path: '/l/0' }], 'JSON patch operation 0: cannot move "/l" into itself'],
  ])('refuses %s and applies nothing', (_what, ops, message) => {
    const target = { a: 1, l: [1] };
    expect(() => applyJsonPatch(target, ops)).toThrow(BadRequestError);
    expect(() => applyJsonPatch(target, ops)).toThrow(message);
    expect(target).toEqual({ a: 1, l: [1] });
  });
});

describe('[api] patch properties', () => {
  // a small seeded generator, so failures reproduce
  function rng(seed: number): () => number {
    let s = seed >>> 0;
    return () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32;
    };
  }
  function randomMap(r: () => number, depth: number, allowNull: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const n = Math.floor(r() * 4);
    for (let i = 0; i < n; i++) {
      const k = ['a', 'b', 'c', 'd'][Math.floor(r() * 4)]!;
      const t = r();
      if (allowNull && t < 0.2) out[k] = null;
      else if (t < 0.5 && depth > 0) out[k] = randomMap(r, depth - 1, allowNull);
      else if (t < 0.6) out[k] = [Math.floor(r() * 3)];
      else out[k] = Math.floor(r() * 10);
    }
    return out;
  }

  it('a strategic merge patch of maps without keyed lists equals a JSON merge patch', () => {
    const r = rng(42);
    for (let i = 0; i < 500; i++) {
      const target = randomMap(r, 3, false);
      const patch = randomMap(r, 3, true);
      expect(applyStrategicMergePatch(target, patch)).toEqual(applyJsonMergePatch(target, patch));
    }
  });

  it('applying the same merge patch twice changes nothing more', () => {
    const r = rng(7);
    for (let i = 0; i < 500; i++) {
      const target = randomMap(r, 3, false);
      const patch = randomMap(r, 3, true);
      const once = applyJsonMergePatch(target, patch);
      expect(applyJsonMergePatch(once, patch)).toEqual(once);
      const smp = applyStrategicMergePatch(target, patch);
      expect(applyStrategicMergePatch(smp, patch)).toEqual(smp);
    }
  });
});
