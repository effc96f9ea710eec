import { describe, expect, it } from 'vitest';
import {
  assertValid,
  BadRequestError,
  defaultObject,
  InvalidError,
  validateObject,
  type FieldCause,
} from '../../api/index.js';

type Obj = Record<string, any>;

function basePod(): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'nginx:1.25',
          ports: [{ containerPort: 80, name: 'http' }],
          resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { cpu: '1', memory: '128Mi' } },
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
          env: [{ name: 'MODE', value: 'prod' }],
          command: ['nginx'],
          args: ['-g', 'daemon off;'],
        },
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
  };
}

/** The pod with `mutate` applied, validated; returns the InvalidError message ('' when valid). */
function podError(mutate: (p: Obj) => void, old?: Obj): string {
  const p = basePod();
  mutate(p);
  return errorOf(p, old);
}

function errorOf(obj: unknown, old?: unknown): string {
  try {
    assertValid(obj, old);
    return '';
  } catch (e) {
    if (e instanceof InvalidError) return e.message;
    throw e;
  }
}

const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

describe('[api] pod validation', () => {
  it('accepts a valid pod, before and after defaulting', () => {
    expect(validateObject(basePod())).toEqual([]);
    expect(validateObject(defaultObject(basePod()))).toEqual([]);
  });

  it.each<[string, (p: Obj) => void, string]>([
    ['a missing image', (p) => delete p.spec.containers[0].image, 'Pod "web" is invalid: spec.containers[0].image: Required value'],
    ['an empty image', (p) => (p.spec.containers[0].image = ''), 'Pod "web" is invalid: spec.containers[0].image: Required value'],
    [
      'an image with spaces around it',
      (p) => (p.spec.containers[0].image = ' nginx'),
      'Pod "web" is invalid: spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace',
    ],
    ['a missing container name', (p) => delete p.spec.containers[0].name, 'Pod "web" is invalid: spec.containers[0].name: Required value'],
    [
      'a container name that is not a DNS label',
      (p) => (p.spec.containers[0].name = 'Web_1'),
      `Pod "web" is invalid: spec.containers[0].name: Invalid value: "Web_1": ${LABEL_MSG}`,
    ],
    [
      'duplicate container names',
      (p) => p.spec.containers.push({ name: 'web', image: 'busybox' }),
      'Pod "web" is invalid: spec.containers[1].name: Duplicate value: "web"',
    ],
    [
      'an init container named like a container',
      (p) => (p.spec.initContainers = [{ name: 'web', image: 'busybox' }]),
      'Pod "web" is invalid: spec.containers[0].name: Duplicate value: "web"',
    ],
    ['no containers', (p) => (p.spec.containers = []), 'Pod "web" is invalid: spec.containers: Required value'],
    ['no spec', (p) => delete p.spec, 'Pod "web" is invalid: spec.containers: Required value'],
    ['a string spec', (p) => (p.spec = 'x'), 'Pod "web" is invalid: spec: Invalid value: "string": must be an object'],
    ['containers as a string', (p) => (p.spec.containers = 'nginx'), 'Pod "web" is invalid: spec.containers: Invalid value: "string": must be an array'],
    ['a container that is a number', (p) => (p.spec.containers = [7]), 'Pod "web" is invalid: spec.containers[0]: Invalid value: "number": must be an object'],
    ['an image that is a number', (p) => (p.spec.containers[0].image = 5), 'Pod "web" is invalid: spec.containers[0].image: Invalid value: "number": must be a string'],
    ['a command that is a string', (p) => (p.spec.containers[0].command = 'nginx'), 'Pod "web" is invalid: spec.containers[0].command: Invalid value: "string": must be an array'],
    ['an argument that is a number', (p) => (p.spec.containers[0].args = ['-p', 80]), 'Pod "web" is invalid: spec.containers[0].args[1]: Invalid value: "number": must be a string'],
    [
      'a bad pull policy',
      (p) => (p.spec.containers[0].imagePullPolicy = 'Sometimes'),
      'Pod "web" is invalid: spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"',
    ],
    [
      'a bad restart policy',
      (p) => (p.spec.restartPolicy = 'Sometimes'),
      'Pod "web" is invalid: spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"',
    ],
    [
      'a negative grace period',
      (p) => (p.spec.terminationGracePeriodSeconds = -1),
      'Pod "web" is invalid: spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0',
    ],
    [
      'a fractional grace period',
      (p) => (p.spec.terminationGracePeriodSeconds = 1.5),
      'Pod "web" is invalid: spec.terminationGracePeriodSeconds: Invalid value: "number": must be an integer',
    ],
    ['hostNetwork as a string', (p) => (p.spec.hostNetwork = 'yes'), 'Pod "web" is invalid: spec.hostNetwork: Invalid value: "string": must be a boolean'],
    [
      'a port out of range',
      (p) => (p.spec.containers[0].ports[0].containerPort = 70000),
      'Pod "web" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    ],
    ['a port without containerPort', (p) => (p.spec.containers[0].ports = [{}]), 'Pod "web" is invalid: spec.containers[0].ports[0].containerPort: Required value'],
    [
      'a port given as a string',
      (p) => (p.spec.containers[0].ports = [{ containerPort: '80' }]),
      'Pod "web" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: "string": must be an integer',
    ],
    [
      'a lower-case protocol',
      (p) => (p.spec.containers[0].ports[0].protocol = 'tcp'),
      'Pod "web" is invalid: spec.containers[0].ports[0].protocol: Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"',
    ],
    [
      'the same port twice',
      (p) => p.spec.containers[0].ports.push({ containerPort: 80 }),
      'Pod "web" is invalid: spec.containers[0].ports[1].containerPort: Duplicate value: "80/TCP"',
    ],
    [
      'the same host port in two containers',
      (p) => {
        p.spec.containers[0].ports[0].hostPort = 8080;
        p.spec.containers.push({ name: 'side', image: 'x', ports: [{ containerPort: 81, hostPort: 8080 }] });
      },
      'Pod "web" is invalid: spec.containers[1].ports[0].hostPort: Duplicate value: "8080/TCP"',
    ],
    [
      'a duplicate port name',
      (p) => p.spec.containers[0].ports.push({ containerPort: 81, name: 'http' }),
      'Pod "web" is invalid: spec.containers[0].ports[1].name: Duplicate value: "http"',
    ],
    [
      'a port name that is too long',
      (p) => (p.spec.containers[0].ports[0].name = 'a-very-long-port-name'),
      'Pod "web" is invalid: spec.containers[0].ports[0].name: Invalid value: "a-very-long-port-name": must be no more than 15 characters',
    ],
    [
      'a hostPort unlike containerPort on the host network',
      (p) => {
        p.spec.hostNetwork = true;
        p.spec.containers[0].ports[0].hostPort = 8080;
      },
      'Pod "web" is invalid: spec.containers[0].ports[0].hostPort: Invalid value: 8080: `hostPort` must match `containerPort` when `hostNetwork` is true',
    ],
    [
      'a bad cpu quantity',
      (p) => (p.spec.containers[0].resources.limits.cpu = 'lots'),
      `Pod "web" is invalid: spec.containers[0].resources.limits[cpu]: Invalid value: "lots": ${QUANTITY_MSG}`,
    ],
    [
      'a negative memory request',
      (p) => (p.spec.containers[0].resources.requests.memory = '-1Mi'),
      'Pod "web" is invalid: spec.containers[0].resources.requests[memory]: Invalid value: "-1Mi": must be greater than or equal to 0',
    ],
    [
      'a request above its limit',
      (p) => (p.spec.containers[0].resources.requests.cpu = '1500m'),
      'Pod "web" is invalid: spec.containers[0].resources.requests[cpu]: Invalid value: "1500m": must be less than or equal to cpu limit of 1',
    ],
    [
      'an unknown resource name',
      (p) => (p.spec.containers[0].resources.limits.gpu = '1'),
      'Pod "web" is invalid: spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard resource type or fully qualified',
    ],
    [
      'a mount of a volume that does not exist',
      (p) => (p.spec.containers[0].volumeMounts[0].name = 'cache'),
      'Pod "web" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "cache"',
    ],
    [
      'a mount without a path',
      (p) => delete p.spec.containers[0].volumeMounts[0].mountPath,
      'Pod "web" is invalid: spec.containers[0].volumeMounts[0].mountPath: Required value',
    ],
    [
      'two mounts on one path',
      (p) => p.spec.containers[0].volumeMounts.push({ name: 'data', mountPath: '/data' }),
      'Pod "web" is invalid: spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/data": must be unique',
    ],
    [
      'a relative hostPath',
      (p) => (p.spec.volumes = [{ name: 'data', hostPath: { path: 'var/data' } }]),
      'Pod "web" is invalid: spec.volumes[0].hostPath.path: Invalid value: "var/data": must be an absolute path',
    ],
    [
      'a hostPath with an unknown type',
      (p) => (p.spec.volumes = [{ name: 'data', hostPath: { path: '/d', type: 'Dir' } }]),
      'Pod "web" is invalid: spec.volumes[0].hostPath.type: Unsupported value: "Dir": supported values: "", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket"',
    ],
    [
      'a volume with two sources',
      (p) => (p.spec.volumes = [{ name: 'data', emptyDir: {}, hostPath: { path: '/d' } }]),
      'Pod "web" is invalid: spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type',
    ],
    [
      'a volume without a source',
      (p) => (p.spec.volumes = [{ name: 'data' }]),
      'Pod "web" is invalid: spec.volumes[0]: Required value: must specify a volume type',
    ],
    [
      'an unsupported volume type',
      (p) => (p.spec.volumes = [{ name: 'data', nfs: { server: 'nas', path: '/x' } } as never]),
      'Pod "web" is invalid: spec.volumes[0].nfs: Forbidden: volume type not supported (supported: emptyDir, hostPath, configMap, secret)',
    ],
    [
      'duplicate volume names',
      (p) => p.spec.volumes.push({ name: 'data', emptyDir: {} }),
      'Pod "web" is invalid: spec.volumes[1].name: Duplicate value: "data"',
    ],
    [
      'a bad env name',
      (p) => (p.spec.containers[0].env = [{ name: '1ABC', value: 'x' }]),
      `Pod "web" is invalid: spec.containers[0].env[0].name: Invalid value: "1ABC": a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')`,
    ],
    [
      'an env value that is a number',
      (p) => (p.spec.containers[0].env = [{ name: 'PORT', value: 80 }]),
      'Pod "web" is invalid: spec.containers[0].env[0].value: Invalid value: "number": must be a string',
    ],
    [
      'a bad node name',
      (p) => (p.spec.nodeName = 'Node_1'),
      `Pod "web" is invalid: spec.nodeName: Invalid value: "Node_1": ${SUBDOMAIN_MSG}`,
    ],
    [
      'a toleration with a value and Exists',
      (p) => (p.spec.tolerations = [{ key: 'k', operator: 'Exists', value: 'v' }]),
      "Pod \"web\" is invalid: spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
    ],
    [
      'a toleration with tolerationSeconds but not NoExecute',
      (p) => (p.spec.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }]),
      "Pod \"web\" is invalid: spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
    ],
    [
      'a toleration with a bad effect',
      (p) => (p.spec.tolerations = [{ operator: 'Exists', effect: 'Never' }]),
      'Pod "web" is invalid: spec.tolerations[0].effect: Unsupported value: "Never": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule"',
    ],
    [
      'a bad status phase',
      (p) => (p.status = { phase: 'Sleeping' }),
      'Pod "web" is invalid: status.phase: Unsupported value: "Sleeping": supported values: "Failed", "Pending", "Running", "Succeeded", "Unknown"',
    ],
    [
      'a pod IP that is not an IP',
      (p) => (p.status = { phase: 'Running', podIP: '10.244.1', podIPs: [{ ip: '10.244.1.5' }, { ip: 'fe80::zz' }] }),
      'Pod "web" is invalid: [status.podIP: Invalid value: "10.244.1": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff), status.podIPs[1].ip: Invalid value: "fe80::zz": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)]',
    ],
    [
      'a host IP of a port that is not an IP',
      (p) => (p.spec.containers[0].ports[0].hostIP = 'localhost'),
      'Pod "web" is invalid: spec.containers[0].ports[0].hostIP: Invalid value: "localhost": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    ],
    [
      'a terminated state without an exit code',
      (p) => (p.status = { containerStatuses: [{ name: 'web', ready: false, restartCount: 0, image: 'x', state: { terminated: { reason: 'Error' } } }] }),
      'Pod "web" is invalid: status.containerStatuses[0].state.terminated.exitCode: Required value',
    ],
  ])('reports %s', (_what, mutate, message) => {
    expect(podError(mutate)).toBe(message);
  });

  it('names an unsupported volume type also after defaulting', () => {
    const p = basePod();
    p.spec.volumes = [{ name: 'data', nfs: { server: 'nas', path: '/x' } } as never];
    expect(errorOf(defaultObject(p))).toBe(
      'Pod "web" is invalid: spec.volumes[0].nfs: Forbidden: volume type not supported (supported: emptyDir, hostPath, configMap, secret)',
    );
  });

  it('lists several causes in brackets, as Kubernetes does, with field, reason and message each', () => {
    const p = basePod();
    delete p.spec.containers[0].image;
    p.spec.restartPolicy = 'Sometimes';
    let err: unknown;
    try {
      assertValid(p);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidError);
    const inv = err as InvalidError;
    expect(inv.code).toBe('Invalid');
    expect(inv.message).toBe(
      'Pod "web" is invalid: [spec.containers[0].image: Required value, spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"]',
    );
    expect(inv.causes).toEqual<FieldCause[]>([
      { field: 'spec.containers[0].image', reason: 'FieldValueRequired', message: 'Required value' },
      {
        field: 'spec.restartPolicy',
        reason: 'FieldValueNotSupported',
        message: 'Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"',
      },
    ]);
    expect(inv.details).toEqual({ kind: 'Pod', name: 'web' });
  });

  it.each<[string, (p: Obj) => void, string]>([
    ['a missing name', (p) => delete p.metadata.name, 'Pod "" is invalid: metadata.name: Required value: name or generateName is required'],
    ['an upper-case name', (p) => (p.metadata.name = 'Web'), `Pod "Web" is invalid: metadata.name: Invalid value: "Web": ${SUBDOMAIN_MSG}`],
    [
      'a name that is too long',
      (p) => (p.metadata.name = 'a'.repeat(254)),
      `Pod "${'a'.repeat(254)}" is invalid: metadata.name: Invalid value: "${'a'.repeat(254)}": must be no more than 253 characters`,
    ],
    ['a missing namespace', (p) => delete p.metadata.namespace, 'Pod "web" is invalid: metadata.namespace: Required value'],
    ['a name given as a number', (p) => (p.metadata.name = 12), 'Pod "" is invalid: metadata.name: Invalid value: "number": must be a string'],
    ['metadata as a list', (p) => (p.metadata = []), 'Pod "" is invalid: metadata: Invalid value: "array": must be an object'],
    [
      'a bad label key',
      (p) => (p.metadata.labels = { 'bad key': 'v' }),
      `Pod "web" is invalid: metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
    ],
    [
      'a bad label value',
      (p) => (p.metadata.labels = { app: 'web server' }),
      `Pod "web" is invalid: metadata.labels[app]: Invalid value: "web server": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
    ],
    ['a numeric label value', (p) => (p.metadata.labels = { version: 2 }), 'Pod "web" is invalid: metadata.labels[version]: Invalid value: "number": must be a string'],
    [
      'a label key with a bad prefix',
      (p) => (p.metadata.labels = { 'Example.com/app': 'x' }),
      `Pod "web" is invalid: metadata.labels: Invalid value: "Example.com/app": prefix part ${SUBDOMAIN_MSG}`,
    ],
    ['an empty label name part', (p) => (p.metadata.labels = { 'example.com/': 'x' }), 'Pod "web" is invalid: metadata.labels: Invalid value: "example.com/": name part must be non-empty'],
    [
      'oversize annotations',
      (p) => (p.metadata.annotations = { big: 'x'.repeat(256 * 1024) }),
      'Pod "web" is invalid: metadata.annotations: Too long: must have at most 262144 bytes',
    ],
    [
      'a bad creation timestamp',
      (p) => (p.metadata.creationTimestamp = 'yesterday'),
      'Pod "web" is invalid: metadata.creationTimestamp: Invalid value: "yesterday": must be an RFC 3339 timestamp',
    ],
  ])('checks metadata: %s', (_what, mutate, message) => {
    expect(podError(mutate)).toBe(message);
  });

  it('accepts generateName instead of a name, and label keys with a prefix', () => {
    expect(podError((p) => {
      delete p.metadata.name;
      p.metadata.generateName = 'web-';
      p.metadata.labels = { 'example.com/app': 'web', 'app.kubernetes.io/name': 'x_y.z', empty: '' };
    })).toBe('');
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['a string', 'pod'],
    ['a list', [1, 2]],
    ['a number', 42],
  ])('refuses %s as a body with a bad request, not a crash', (_what, body) => {
    expect(() => validateObject(body)).toThrow(BadRequestError);
  });

  it.each<[string, unknown]>([
    ['deeply wrong types', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x', namespace: 'default', labels: 'a', annotations: [1], finalizers: 'f', ownerReferences: {} }, spec: { containers: [{ name: {}, image: [], ports: [null, 'x', { containerPort: {} }], env: {}, resources: { limits: [], requests: 'x' }, volumeMounts: [{}] }], volumes: { a: 1 }, tolerations: [1], nodeSelector: [] }, status: { conditions: 'x', containerStatuses: [{ state: [] }] } }],
    ['nulls everywhere', { apiVersion: 'v1', kind: 'Pod', metadata: { name: null, labels: null }, spec: { containers: [{ name: null, image: null, ports: null, resources: { limits: { cpu: null } } }], volumes: [null] }, status: null }],
    ['a node of garbage', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' }, spec: { taints: [null, {}] }, status: { capacity: [], addresses: [1], conditions: [{}], nodeInfo: 'x' } }],
    ['an event of garbage', { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, involvedObject: [], count: 'many', source: 1 }],
  ])('never throws a TypeError on %s', (_what, body) => {
    const causes = validateObject(body);
    expect(causes.length).toBeGreaterThan(0);
    for (const c of causes) expect(c.message).not.toMatch(/TypeError|undefined/);
  });
});

describe('[api] pod update validation', () => {
  const old = defaultObject(basePod());

  it.each<[string, (p: Obj) => void, string]>([
    ['an image change', (p) => (p.spec.containers[0].image = 'nginx:1.26'), ''],
    ['a label change', (p) => (p.metadata.labels = { app: 'web2' }), ''],
    ['a status change', (p) => (p.status = { phase: 'Running' }), ''],
    ['adding a toleration', (p) => (p.spec.tolerations = [{ key: 'k', operator: 'Exists' }]), ''],
    ['setting activeDeadlineSeconds', (p) => (p.spec.activeDeadlineSeconds = 60), ''],
    ['a renamed pod', (p) => (p.metadata.name = 'web2'), 'Pod "web2" is invalid: metadata.name: Invalid value: "web2": field is immutable'],
    ['a moved pod', (p) => (p.metadata.namespace = 'other'), 'Pod "web" is invalid: metadata.namespace: Invalid value: "other": field is immutable'],
    [
      'a changed command',
      (p) => (p.spec.containers[0].command = ['sh']),
      'Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative); changed: spec.containers[0].command',
    ],
    [
      'an added container',
      (p) => p.spec.containers.push({ ...p.spec.containers[0], name: 'two', ports: [], volumeMounts: [] }),
      'Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative); changed: spec.containers',
    ],
    [
      'a new restart policy and node selector',
      (p) => {
        p.spec.restartPolicy = 'Never';
        p.spec.nodeSelector = { disk: 'ssd' };
      },
      'Pod "web" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative); changed: spec.nodeSelector, spec.restartPolicy',
    ],
  ])('allows or refuses %s', (_what, mutate, message) => {
    const p = structuredClone(old) as Obj;
    mutate(p);
    expect(errorOf(p, old)).toBe(message);
  });

  it('refuses a changed uid and a removed toleration or deadline', () => {
    const withTol = structuredClone(old) as Obj;
    withTol.metadata.uid = 'u1';
    withTol.spec.tolerations = [{ key: 'k', operator: 'Exists' }];
    withTol.spec.activeDeadlineSeconds = 60;
    const p = structuredClone(withTol);
    p.metadata.uid = 'u2';
    p.spec.tolerations = [];
    p.spec.activeDeadlineSeconds = 120;
    expect(validateObject(p, withTol).map((c) => `${c.field}: ${c.message}`)).toEqual([
      'metadata.uid: Invalid value: "u2": field is immutable',
      'spec.activeDeadlineSeconds: Invalid value: 120: must be less than or equal to previous value',
      'spec.tolerations[0]: Forbidden: existing toleration can not be modified except its tolerationSeconds',
    ]);
  });
});

describe('[api] node, namespace and event validation', () => {
  const node = (extra: Obj = {}): Obj => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-1' },
    spec: { podCIDR: '10.244.1.0/24', taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] },
    status: {
      capacity: { cpu: '2', memory: '4Gi', pods: '110' },
      allocatable: { cpu: '2', memory: '4Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: '2026-01-02T03:04:05Z' }],
      addresses: [{ type: 'InternalIP', address: '10.200.0.2' }, { type: 'Hostname', address: 'node-1' }],
      nodeInfo: { kernelVersion: '6.1.0', architecture: 'amd64' },
    },
    ...extra,
  });

  it('accepts a valid node, namespace and event', () => {
    expect(validateObject(node())).toEqual([]);
    expect(validateObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' }, status: { phase: 'Active' } })).toEqual([]);
    expect(
      validateObject({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: 'web.17a', namespace: 'default' },
        involvedObject: { kind: 'Pod', name: 'web', namespace: 'default', uid: 'u1' },
        reason: 'Scheduled',
        message: 'Successfully assigned default/web to node-1',
        type: 'Normal',
        count: 1,
        firstTimestamp: '2026-01-02T03:04:05Z',
        lastTimestamp: '2026-01-02T03:04:05.123456Z',
        source: { component: 'default-scheduler' },
        reportingComponent: 'default-scheduler',
      }),
    ).toEqual([]);
  });

  it.each<[string, unknown, string]>([
    ['a node in a namespace', { ...node(), metadata: { name: 'node-1', namespace: 'default' } }, 'Node "node-1" is invalid: metadata.namespace: Forbidden: not allowed on this type'],
    ['a bad pod CIDR', node({ spec: { podCIDR: '10.244.1.0' } }), 'Node "node-1" is invalid: spec.podCIDR: Invalid value: "10.244.1.0": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'],
    [
      'a taint with a bad effect',
      node({ spec: { taints: [{ key: 'k', effect: 'Maybe' }] } }),
      'Node "node-1" is invalid: spec.taints[0].effect: Unsupported value: "Maybe": supported values: "NoExecute", "NoSchedule", "PreferNoSchedule"',
    ],
    ['a taint without key', node({ spec: { taints: [{ effect: 'NoSchedule' }] } }), 'Node "node-1" is invalid: spec.taints[0].key: Required value'],
    [
      'duplicate taints',
      node({ spec: { taints: [{ key: 'k', effect: 'NoSchedule' }, { key: 'k', value: 'x', effect: 'NoSchedule' }] } }),
      'Node "node-1" is invalid: spec.taints[1]: Duplicate value: "k:NoSchedule"',
    ],
    [
      'a bad capacity',
      node({ status: { capacity: { memory: '4 GB' } } }),
      `Node "node-1" is invalid: status.capacity[memory]: Invalid value: "4 GB": ${QUANTITY_MSG}`,
    ],
    [
      'a condition with a bad status',
      node({ status: { conditions: [{ type: 'Ready', status: 'Yes' }] } }),
      'Node "node-1" is invalid: status.conditions[0].status: Unsupported value: "Yes": supported values: "False", "True", "Unknown"',
    ],
    ['unschedulable as a string', node({ spec: { unschedulable: 'true' } }), 'Node "node-1" is invalid: spec.unschedulable: Invalid value: "string": must be a boolean'],
    [
      'a namespace with dots',
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team.a' } },
      `Namespace "team.a" is invalid: metadata.name: Invalid value: "team.a": ${LABEL_MSG}`,
    ],
    [
      'a namespace with a bad phase',
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' }, status: { phase: 'Gone' } },
      'Namespace "a" is invalid: status.phase: Unsupported value: "Gone": supported values: "Active", "Terminating"',
    ],
    [
      'an event without involvedObject',
      { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' } },
      'Event "e" is invalid: involvedObject: Required value',
    ],
    [
      'an event about an object in another namespace',
      { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, involvedObject: { kind: 'Pod', name: 'x', namespace: 'other' } },
      'Event "e" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace',
    ],
    [
      'an event with a bad type',
      { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, involvedObject: { kind: 'Node', name: 'n' }, type: 'Error' },
      'Event "e" is invalid: type: Unsupported value: "Error": supported values: "Normal", "Warning"',
    ],
    [
      'an event with a negative count',
      { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e', namespace: 'default' }, involvedObject: { kind: 'Node', name: 'n' }, count: -2 },
      'Event "e" is invalid: count: Invalid value: -2: must be greater than or equal to 0',
    ],
  ])('reports %s', (_what, obj, message) => {
    expect(errorOf(obj)).toBe(message);
  });

  it('lets a node get its pod CIDR once but not change it', () => {
    const old = node({ spec: {} });
    expect(errorOf(node(), old)).toBe('');
    expect(errorOf(node({ spec: { podCIDR: '10.244.2.0/24' } }), node())).toBe(
      'Node "node-1" is invalid: spec.podCIDR: Forbidden: node updates may not change podCIDR except from "" to valid',
    );
  });

  it('refuses an unknown kind with a bad request', () => {
    expect(() => validateObject({ apiVersion: 'v1', kind: 'Deployment', metadata: { name: 'x' } })).toThrow(
      'no kind "Deployment" is registered for version "v1"',
    );
  });
});

describe('[api] validation and defaulting survive garbage anywhere', () => {
  /** Every path to a value inside `v` (objects and arrays), as key lists. */
  function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
    if (v === null || typeof v !== 'object') return [prefix];
    const out: (string | number)[][] = [prefix];
    for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, Array.isArray(v) ? Number(k) : k]));
    return out;
  }
  const GARBAGE: unknown[] = [null, 0, -1, 1.5, '', 'x', true, [], [null], {}, { a: 1 }];

  it('replacing any field of a defaulted pod with any wrong value gives field errors or passes, never a crash', () => {
    const pod = defaultObject({ ...basePod(), status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'web', ready: true, restartCount: 0, image: 'nginx', state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }] } });
    let checked = 0;
    for (const path of paths(pod)) {
      if (path.length < 2) continue; // apiVersion/kind are checked before validation
      for (const g of GARBAGE) {
        const copy = structuredClone(pod) as Obj;
        let cur: any = copy;
        for (const k of path.slice(0, -1)) cur = cur[k];
        cur[path[path.length - 1]!] = structuredClone(g);
        expect(() => validateObject(defaultObject(copy), pod)).not.toThrow();
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(500);
  });
});

describe('[api] pods that consume ConfigMaps, Secrets and the downward API', () => {
  const env = (valueFrom: unknown) => (p: Obj) => ((p.spec as any).containers[0].env = [{ name: 'X', valueFrom }]);
  it.each<[string, (p: Obj) => void]>([
    ['a configMapKeyRef', env({ configMapKeyRef: { name: 'app', key: 'mode', optional: true } })],
    ['a secretKeyRef', env({ secretKeyRef: { name: 'db', key: 'password' } })],
    ['a fieldRef to status.podIP', env({ fieldRef: { fieldPath: 'status.podIP' } })],
    ["a fieldRef to one label", env({ fieldRef: { fieldPath: "metadata.labels['app']" } })],
    ['a resourceFieldRef with a divisor', env({ resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } })],
    ['envFrom a ConfigMap with a prefix', (p) => ((p.spec as any).containers[0].envFrom = [{ prefix: 'APP_', configMapRef: { name: 'app' } }])],
    ['configMap and secret volumes with items and modes', (p) => {
      (p.spec as any).volumes = [
        { name: 'cfg', configMap: { name: 'app', items: [{ key: 'mode', path: 'conf/mode', mode: 0o400 }], defaultMode: 0o644 } },
        { name: 'sec', secret: { secretName: 'db', optional: true } },
        ...(p.spec as any).volumes,
      ];
    }],
  ])('accepts %s', (_w, mutate) => {
    expect(podError(mutate)).toBe('');
  });

  it.each<[string, (p: Obj) => void, string]>([
    ['a key that is not a config key', env({ configMapKeyRef: { name: 'app', key: 'no/slash' } }), 'spec.containers[0].env[0].valueFrom.configMapKeyRef.key: Invalid value: "no/slash": a valid config key'],
    ['value and valueFrom together', (p) => ((p.spec as any).containers[0].env = [{ name: 'X', value: 'v', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]), 'spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when `value` is not empty'],
    ['two sources in one valueFrom', env({ fieldRef: { fieldPath: 'metadata.name' }, secretKeyRef: { name: 'db', key: 'k' } }), 'spec.containers[0].env[0].valueFrom: Invalid value: "": may not have more than one field specified at a time'],
    ['a fieldRef the downward API does not offer', env({ fieldRef: { fieldPath: 'spec.hostname' } }), 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "spec.hostname"'],
    ['the whole label map in env', env({ fieldRef: { fieldPath: 'metadata.labels' } }), 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.labels"'],
    ['a cpu divisor Kubernetes refuses', env({ resourceFieldRef: { resource: 'limits.cpu', divisor: '3' } }), "only divisor's values 1m, 1 are supported with the cpu resource"],
    ['a resourceFieldRef to a container that does not exist', env({ resourceFieldRef: { resource: 'limits.cpu', containerName: 'nope' } }), 'spec.containers[0].env[0].valueFrom.resourceFieldRef.containerName: Not found: "nope"'],
    ['envFrom with neither ref', (p) => ((p.spec as any).containers[0].envFrom = [{ prefix: 'A_' }]), 'spec.containers[0].envFrom[0]: Invalid value: "": must specify one of: `configMapRef` or `secretRef`'],
    ['a volume item path that climbs out', (p) => ((p.spec as any).volumes = [...(p.spec as any).volumes, { name: 'cfg', configMap: { name: 'app', items: [{ key: 'k', path: '../etc/passwd' }] } }]), 'spec.volumes[1].configMap.items[0].path: Invalid value: "../etc/passwd": must not contain \'..\''],
    ['a secret volume without secretName', (p) => ((p.spec as any).volumes = [...(p.spec as any).volumes, { name: 'sec', secret: {} }]), 'spec.volumes[1].secret.secretName: Required value'],
    ['a defaultMode over 0777', (p) => ((p.spec as any).volumes = [...(p.spec as any).volumes, { name: 'cfg', configMap: { name: 'app', defaultMode: 1024 } }]), 'spec.volumes[1].configMap.defaultMode: Invalid value: 1024: must be a number between 0 and 0777 (octal), both inclusive'],
  ])('refuses %s, naming the field', (_w, mutate, message) => {
    expect(podError(mutate)).toContain(message);
  });
});
