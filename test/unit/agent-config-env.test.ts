// A container's environment from ConfigMaps, Secrets and the downward API, as
// the kubelet makes it (node-agent/config/env.ts), and the cache the agent
// reads the objects through (config/source.ts).
import { describe, expect, it } from 'vitest';
import { FakeClock, type ConfigMap, type Container, type Pod, type Secret } from '../../api/index.js';
import {
  CachedConfigSource,
  containerConfigReferences,
  formatMap,
  invalidEnvNamesMessage,
  PodConfig,
  resolveEnv,
  type ConfigObjects,
  type DownwardContext,
} from '../../node-agent/config/index.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

const cm = (name: string, data: Record<string, string>, binaryData?: Record<string, string>): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'demo' },
  data,
  ...(binaryData ? { binaryData } : {}),
});
const secret = (name: string, data: Record<string, string>): Secret => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'demo' },
  type: 'Opaque',
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
});

const OBJECTS: ConfigObjects = {
  configmaps: new Map<string, ConfigMap | undefined>([
    ['app-config', cm('app-config', { mode: 'fast', level: '3', 'bad key': 'x', '1st': 'y', 'with.dot': 'z' }, { blob: b64('bin') })],
    ['gone', undefined],
  ]),
  secrets: new Map<string, Secret | undefined>([['db', secret('db', { password: 's3cret', user: 'admin' })]]),
};

function pod(containers: Array<Partial<Container>>, extra: Partial<Pod['spec']> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'demo', uid: 'uid-1', labels: { app: 'web', tier: 'front' }, annotations: { note: 'a "quoted" one' } },
    spec: { nodeName: 'n1', serviceAccountName: 'builder', containers: containers.map((c, i) => ({ name: `c${i}`, image: 'busybox', ...c })), ...extra },
  };
}

const CTX: DownwardContext = { podIP: '10.244.1.7', hostIP: '10.200.0.11', allocatable: { cpu: '4', memory: '8Gi', 'ephemeral-storage': '100Gi' } };

function envOf(c: Partial<Container>, p = pod([c])): Record<string, string> | string {
  const r = resolveEnv(p, p.spec.containers[0]!, OBJECTS, CTX);
  return r.ok ? Object.fromEntries(r.env.map((e) => [e.name, e.value])) : r.message;
}

describe('[agent] env valueFrom: ConfigMap and Secret keys', () => {
  it.each<[string, Partial<Container>, Record<string, string> | string]>([
    ['a ConfigMap key', { env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'mode' } } }] }, { MODE: 'fast' }],
    ['a Secret key, decoded', { env: [{ name: 'PW', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }, { PW: 's3cret' }],
    ['a missing ConfigMap', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'gone', key: 'mode' } } }] }, 'configmap "gone" not found'],
    ['a ConfigMap never read (absent from the map) is missing too', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'other', key: 'k' } } }] }, 'configmap "other" not found'],
    ['a missing key', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'nope' } } }] }, "couldn't find key nope in ConfigMap demo/app-config"],
    ['a binaryData key is not an env value (as Kubernetes)', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'blob' } } }] }, "couldn't find key blob in ConfigMap demo/app-config"],
    ['a missing Secret', { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'nope', key: 'password' } } }] }, 'secret "nope" not found'],
    ['a missing Secret key', { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'token' } } }] }, "couldn't find key token in Secret demo/db"],
    [
      'optional: a missing object or key leaves the variable out',
      {
        env: [
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'gone', key: 'mode', optional: true } } },
          { name: 'B', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'nope', optional: true } } },
          { name: 'C', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } },
          { name: 'D', valueFrom: { secretKeyRef: { name: 'db', key: 'token', optional: true } } },
          { name: 'E', value: 'kept' },
        ],
      },
      { E: 'kept' },
    ],
  ])('%s', (_name, c, want) => {
    expect(envOf(c)).toEqual(want);
  });
});

describe('[agent] envFrom', () => {
  it('takes every data key, with the prefix; a later env entry overrides it', () => {
    const p = pod([
      {
        envFrom: [{ configMapRef: { name: 'app-config' }, prefix: 'CFG_' }, { secretRef: { name: 'db' } }],
        env: [{ name: 'user', value: 'override' }],
      },
    ]);
    const r = resolveEnv(p, p.spec.containers[0]!, OBJECTS, CTX);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.env).toEqual([
      { name: 'CFG_1st', value: 'y' },
      { name: 'CFG_level', value: '3' },
      { name: 'CFG_mode', value: 'fast' },
      { name: 'CFG_with.dot', value: 'z' },
      { name: 'password', value: 's3cret' },
      { name: 'user', value: 'override' },
    ]);
    // `CFG_bad key` is not a variable name: skipped and reported, as the kubelet does.
    expect(r.invalid).toEqual([{ kind: 'configMap', namespace: 'demo', name: 'app-config', keys: ['CFG_bad key'] }]);
    expect(invalidEnvNamesMessage(r.invalid[0]!)).toBe(
      'Keys [CFG_bad key] from the EnvFrom configMap demo/app-config were skipped since they are considered invalid environment variable names.',
    );
  });

  it('without a prefix, a key starting with a digit is skipped too', () => {
    const p = pod([{ envFrom: [{ configMapRef: { name: 'app-config' } }] }]);
    const r = resolveEnv(p, p.spec.containers[0]!, OBJECTS, CTX);
    expect(r.ok && r.invalid[0]!.keys).toEqual(['1st', 'bad key']);
    expect(r.ok && r.env.map((e) => e.name)).toEqual(['level', 'mode', 'with.dot']);
  });

  it.each<[string, Partial<Container>, Record<string, string> | string]>([
    ['a missing ConfigMap', { envFrom: [{ configMapRef: { name: 'gone' } }] }, 'configmap "gone" not found'],
    ['a missing Secret', { envFrom: [{ secretRef: { name: 'nope' } }] }, 'secret "nope" not found'],
    ['an optional missing one is nothing', { envFrom: [{ configMapRef: { name: 'gone', optional: true } }, { secretRef: { name: 'nope', optional: true } }] }, {}],
  ])('%s', (_name, c, want) => {
    expect(envOf(c)).toEqual(want);
  });
});

describe('[agent] env valueFrom: the downward API', () => {
  const field = (fieldPath: string) => ({ env: [{ name: 'V', valueFrom: { fieldRef: { fieldPath } } }] });
  it.each<[string, string]>([
    ['metadata.name', 'web'],
    ['metadata.namespace', 'demo'],
    ['metadata.uid', 'uid-1'],
    ["metadata.labels['app']", 'web'],
    ["metadata.labels['missing']", ''],
    ["metadata.annotations['note']", 'a "quoted" one'],
    ['metadata.labels', 'app="web"\ntier="front"'],
    ['spec.nodeName', 'n1'],
    ['spec.serviceAccountName', 'builder'],
    ['status.podIP', '10.244.1.7'],
    ['status.hostIP', '10.200.0.11'],
  ])('fieldRef %s', (fieldPath, want) => {
    expect(envOf(field(fieldPath))).toEqual({ V: want });
  });

  it('an unknown fieldPath is an error', () => {
    expect(envOf(field('spec.hostname'))).toBe('unsupported fieldPath: spec.hostname');
  });

  const res = (resource: string, divisor?: string, containerName?: string) => ({
    env: [{ name: 'R', valueFrom: { resourceFieldRef: { resource, ...(divisor ? { divisor } : {}), ...(containerName ? { containerName } : {}) } } }],
  });
  const resources = { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '250m', memory: '32Mi' } };
  it.each<[string, Partial<Container>, string]>([
    ['limits.cpu rounds up to whole cores', { ...res('limits.cpu'), resources }, '1'],
    ['limits.cpu in millicores', { ...res('limits.cpu', '1m'), resources }, '500'],
    ['requests.cpu in millicores', { ...res('requests.cpu', '1m'), resources }, '250'],
    ['limits.memory in bytes', { ...res('limits.memory'), resources }, String(64 * 1024 * 1024)],
    ['limits.memory in Mi', { ...res('limits.memory', '1Mi'), resources }, '64'],
    ['requests.memory in Mi, rounded up', { ...res('requests.memory', '10Mi'), resources }, '4'],
    ['a cpu limit not set is the node allocatable', res('limits.cpu'), '4'],
    ['a memory limit not set is the node allocatable', res('limits.memory', '1Gi'), '8'],
    ['an ephemeral-storage limit not set is the node allocatable', res('limits.ephemeral-storage', '1Gi'), '100'],
    ['a request not set is 0', res('requests.memory'), '0'],
  ])('resourceFieldRef: %s', (_name, c, want) => {
    expect(envOf(c)).toEqual({ R: want });
  });

  it("resourceFieldRef of another container reads that container's resources", () => {
    const p = pod([{ ...res('limits.memory', '1Mi', 'c1') }, { resources: { limits: { memory: '128Mi' } } }]);
    expect(envOf(p.spec.containers[0]!, p)).toEqual({ R: '128' });
    const q = pod([{ ...res('limits.memory', '1Mi', 'nope') }]);
    expect(envOf(q.spec.containers[0]!, q)).toBe('container nope not found in pod demo/web');
  });

  it('formats a whole map as the downward API does: sorted key="value" lines', () => {
    expect(formatMap({ b: '2', a: 'x"y' })).toBe('a="x\\"y"\nb="2"');
    expect(formatMap(undefined)).toBe('');
  });
});

describe('[agent] $(VAR) expansion, as Kubernetes', () => {
  it.each<[string, Partial<Container>, Record<string, string>]>([
    ['a value refers to an earlier variable', { env: [{ name: 'A', value: 'x' }, { name: 'B', value: '$(A)-y' }] }, { A: 'x', B: 'x-y' }],
    ['to a later one it does not', { env: [{ name: 'B', value: '$(A)-y' }, { name: 'A', value: 'x' }] }, { B: '$(A)-y', A: 'x' }],
    ['$$ escapes', { env: [{ name: 'A', value: 'x' }, { name: 'B', value: '$$(A)' }] }, { A: 'x', B: '$(A)' }],
    ['to envFrom and valueFrom variables', { envFrom: [{ secretRef: { name: 'db' } }], env: [{ name: 'M', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'mode' } } }, { name: 'DSN', value: '$(user):$(password)@$(M)' }] }, { password: 's3cret', user: 'admin', M: 'fast', DSN: 'admin:s3cret@fast' }],
    ['a valueFrom value is never expanded', { env: [{ name: 'A', value: 'x' }, { name: 'V', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['tpl']" } } }] }, { A: 'x', V: '$(A)' }],
  ])('%s', (_name, c, want) => {
    const p = pod([c]);
    p.metadata.annotations = { tpl: '$(A)' };
    expect(envOf(c, p)).toEqual(want);
  });

  it('names the objects a container reads, for fetching first', () => {
    expect(
      containerConfigReferences({
        envFrom: [{ configMapRef: { name: 'a' } }, { secretRef: { name: 's1' } }],
        env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'b', key: 'k' } } }, { name: 'Y', valueFrom: { secretKeyRef: { name: 's2', key: 'k' } } }, { name: 'Z', value: 'v' }],
      }),
    ).toEqual({ configmaps: new Set(['a', 'b']), secrets: new Set(['s1', 's2']) });
  });
});

describe('[agent] the ConfigMap/Secret cache', () => {
  function counting(objects: Map<string, ConfigMap | undefined>) {
    const calls: string[] = [];
    const fetch = async (r: string, ns: string, name: string) => {
      calls.push(`${r}/${ns}/${name}`);
      return objects.get(name);
    };
    return { calls, fetch };
  }
  const p = pod([{}]);

  it('reads an object once within the TTL, again after it; absence is remembered as long', async () => {
    const clock = new FakeClock(1_000_000);
    const objects = new Map<string, ConfigMap | undefined>([['a', cm('a', { k: '1' })]]);
    const { calls, fetch } = counting(objects);
    const src = new CachedConfigSource(fetch, clock, 10_000);
    expect((await src.get<ConfigMap>('configmaps', 'demo', 'a', p))?.data).toEqual({ k: '1' });
    objects.set('a', cm('a', { k: '2' }));
    clock.advance(9_000);
    expect((await src.get<ConfigMap>('configmaps', 'demo', 'a', p))?.data).toEqual({ k: '1' });
    clock.advance(1_000);
    expect((await src.get<ConfigMap>('configmaps', 'demo', 'a', p))?.data).toEqual({ k: '2' });
    expect(await src.get('configmaps', 'demo', 'missing', p)).toBeUndefined();
    expect(await src.get('configmaps', 'demo', 'missing', p)).toBeUndefined();
    expect(calls).toEqual(['configmaps/demo/a', 'configmaps/demo/a', 'configmaps/demo/missing']);
  });

  it('pods asking at once share one read; a failed read is not remembered', async () => {
    const clock = new FakeClock(0);
    const calls: string[] = [];
    let fail = true;
    const src = new CachedConfigSource(
      async (_r, _ns, name) => {
        calls.push(name);
        await new Promise((r) => setTimeout(r, 5));
        if (fail) throw new Error('controller unreachable');
        return cm(name, {});
      },
      clock,
    );
    const both = await Promise.allSettled([src.get('configmaps', 'demo', 'a', p), src.get('configmaps', 'demo', 'a', p)]);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toEqual(['a']);
    fail = false;
    expect(await src.get('configmaps', 'demo', 'a', p)).toBeDefined();
    expect(calls).toEqual(['a', 'a']);
  });

  it('PodConfig turns a refused or failed read into a message naming the object', async () => {
    const pc = new PodConfig({
      get: async () => {
        throw new Error('node "n1" may not read secret demo/db: no pod bound to that node references it');
      },
    });
    const q = pod([{ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }] }]);
    expect(await pc.env(q, q.spec.containers[0]!, CTX)).toEqual({
      ok: false,
      message: `couldn't get secret demo/db: node "n1" may not read secret demo/db: no pod bound to that node references it`,
    });
  });
});
