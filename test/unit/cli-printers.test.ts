import { describe, expect, it } from 'vitest';
import type { CronJob, DaemonSet, Deployment, Event, Job, Node, Pod, ReplicaSet } from '../../api/index.js';
import { age, humanDuration } from '../../cli/printers/age.js';
import { nodeRoles, nodeStatus, podStatusReason, tableFor } from '../../cli/printers/columns.js';
import { toTable } from '../../controller/apiserver/table.js';
import { describeNode, describePod, eventsSection } from '../../cli/printers/describe.js';
import { deploymentReplicaSets, describeCronJob, describeDaemonSet, describeDeployment, describeJob, describeReplicaSet, podPhaseCounts } from '../../cli/printers/describe-workloads.js';
import { formatJson, formatYaml, listOrSingle } from '../../cli/printers/output.js';
import { formatTable, tabwrite, DESCRIBE_TABS, TABLE_TABS } from '../../cli/printers/tabwriter.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

describe('table printer', () => {
  it('separates columns by three spaces, left-aligned, and never pads the last column', () => {
    const out = formatTable(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE'], [
      ['web', '1/1', 'Running', '0', '5s'],
      ['database-0', '0/1', 'ContainerCreating', '0', '3m20s'],
    ]);
    expect(out).toBe(
      'NAME         READY   STATUS              RESTARTS   AGE\n' +
        'web          1/1     Running             0          5s\n' +
        'database-0   0/1     ContainerCreating   0          3m20s\n',
    );
  });

  it('keeps a column at least six wide, as kubectl does', () => {
    expect(formatTable(['A', 'B'], [['x', 'y']])).toBe('A     B\nx     y\n');
  });

  it('aligns describe blocks separately: a line without a tab ends the block', () => {
    const lines = tabwrite(['Name:\tweb', 'Namespace:\tdefault', 'Containers:', '  web:', '    Image:\tnginx', '    Restart Count:\t0'], DESCRIBE_TABS);
    expect(lines).toEqual(['Name:       web', 'Namespace:  default', 'Containers:', '  web:', '    Image:          nginx', '    Restart Count:  0']);
  });

  it('prints nothing for an empty table without header', () => {
    expect(formatTable(undefined, [], TABLE_TABS)).toBe('');
  });
});

describe('ages', () => {
  it.each([
    [0, '0s'],
    [5, '5s'],
    [119, '119s'],
    [200, '3m20s'],
    [300, '5m'],
    [15 * 60 + 7, '15m'],
    [3 * 3600 + 600, '3h10m'],
    [20 * 3600, '20h'],
    [2 * 86400, '2d'],
    [2 * 86400 + 3 * 3600, '2d3h'],
    [30 * 86400, '30d'],
    [(2 * 365 + 10) * 86400, '2y10d'],
    [-0.5, '0s'],
    [-5, '<invalid>'],
  ])('%s seconds read as %s', (s, text) => {
    expect(humanDuration(s * 1000)).toBe(text);
  });

  it('says <unknown> for a missing timestamp', () => {
    expect(age(undefined, NOW)).toBe('<unknown>');
  });
});

function pod(over: Partial<Pod> & { status?: Pod['status'] } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', creationTimestamp: ago(200) },
    spec: { containers: [{ name: 'web', image: 'nginx' }] },
    ...over,
  } as Pod;
}

describe('pod STATUS as kubectl computes it', () => {
  it.each<[string, Pod['status'], Partial<Pod['metadata']>, string]>([
    ['a pod with no status yet is Pending', {}, {}, 'Pending'],
    ['a pod waiting for its containers shows the waiting reason', { phase: 'Pending', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, image: 'nginx', state: { waiting: { reason: 'ContainerCreating' } } }] }, {}, 'ContainerCreating'],
    ['a crash-looping container shows CrashLoopBackOff', { phase: 'Running', containerStatuses: [{ name: 'web', ready: false, restartCount: 4, image: 'nginx', state: { waiting: { reason: 'CrashLoopBackOff' } } }] }, {}, 'CrashLoopBackOff'],
    ['a finished container shows Completed', { phase: 'Succeeded', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, image: 'nginx', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] }, {}, 'Completed'],
    ['a terminated container without reason shows its exit code', { phase: 'Failed', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, image: 'nginx', state: { terminated: { exitCode: 3 } } }] }, {}, 'ExitCode:3'],
    ['a killed container without reason shows its signal', { phase: 'Failed', containerStatuses: [{ name: 'web', ready: false, restartCount: 0, image: 'nginx', state: { terminated: { exitCode: 137, signal: 9 } } }] }, {}, 'Signal:9'],
    ['a running ready pod is Running', { phase: 'Running', containerStatuses: [{ name: 'web', ready: true, restartCount: 0, image: 'nginx', state: { running: { startedAt: ago(10) } } }] }, {}, 'Running'],
    ['a pod being deleted is Terminating', { phase: 'Running' }, { deletionTimestamp: ago(1) }, 'Terminating'],
    ['a deleted pod on a lost node is Unknown', { phase: 'Running', reason: 'NodeLost' }, { deletionTimestamp: ago(1) }, 'Unknown'],
    ['the pod reason wins over the phase', { phase: 'Failed', reason: 'Evicted' }, {}, 'Evicted'],
    ['a failing init container shows Init:reason', { phase: 'Pending', initContainerStatuses: [{ name: 'init', ready: false, restartCount: 1, image: 'busybox', state: { waiting: { reason: 'CrashLoopBackOff' } } }] }, {}, 'Init:CrashLoopBackOff'],
    ['a running init container shows Init:n/m', { phase: 'Pending', initContainerStatuses: [{ name: 'init', ready: false, restartCount: 0, image: 'busybox', state: { running: {} } }] }, {}, 'Init:0/1'],
  ])('%s', (_name, status, meta, expected) => {
    const p = pod({ status: status ?? {} });
    p.metadata = { ...p.metadata, ...meta };
    if (status?.initContainerStatuses) p.spec.initContainers = [{ name: 'init', image: 'busybox' }];
    expect(podStatusReason(p)).toBe(expected);
  });
});

describe('get columns', () => {
  const running = pod({
    spec: { containers: [{ name: 'web', image: 'nginx' }, { name: 'side', image: 'busybox' }], nodeName: 'h1' },
    status: {
      phase: 'Running',
      podIP: '10.244.1.5',
      containerStatuses: [
        { name: 'web', ready: true, restartCount: 2, image: 'nginx', state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(65) } } },
        { name: 'side', ready: false, restartCount: 0, image: 'busybox', state: { waiting: { reason: 'ContainerCreating' } } },
      ],
    },
  });

  const plain = { wide: false, withNamespace: false, now: NOW };
  const wide = { wide: true, withNamespace: false, now: NOW };

  it('pods: NAME READY STATUS RESTARTS AGE, wide adds IP, NODE, NOMINATED NODE and READINESS GATES', () => {
    expect(tableFor('Pod', [running], plain).header).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(tableFor('Pod', [running], wide)).toEqual({
      header: ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES'],
      rows: [['web', '1/2', 'ContainerCreating', '2 (65s ago)', '3m20s', '10.244.1.5', 'h1', '<none>', '<none>']],
    });
  });

  it('an unscheduled pod shows <none> for IP and NODE', () => {
    expect(tableFor('Pod', [pod()], wide).rows[0]!.slice(5, 7)).toEqual(['<none>', '<none>']);
  });

  it.each<[string, Pod]>([
    ['running with a restart', running],
    ['pending', pod()],
    ['crash-looping', pod({ status: { phase: 'Running', containerStatuses: [{ name: 'web', ready: false, restartCount: 4, image: 'nginx', state: { waiting: { reason: 'CrashLoopBackOff' } } }] } })],
    ['terminating', { ...pod({ status: { phase: 'Running' } }), metadata: { name: 'web', namespace: 'default', creationTimestamp: ago(9), deletionTimestamp: ago(1) } } as Pod],
  ])('a %s pod reads the same in flotctl get and in the server Table kubectl prints', (_n, p) => {
    const t = toTable('Pod', [p], { nowMs: NOW });
    const cli = tableFor('Pod', [p], wide);
    expect(t.columnDefinitions.map((c) => c.name.toUpperCase())).toEqual(cli.header);
    expect(t.rows.map((r) => r.cells.map(String))).toEqual(cli.rows);
  });

  it('-A puts a NAMESPACE column first', () => {
    const t = tableFor('Pod', [pod()], { wide: false, withNamespace: true, now: NOW });
    expect(t.header[0]).toBe('NAMESPACE');
    expect(t.rows[0]![0]).toBe('default');
  });

  const node: Node = {
    metadata: { name: 'h1', creationTimestamp: ago(2 * 86400), labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/hostname': 'h1' } },
    spec: { unschedulable: true },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '10.200.0.11' }],
      nodeInfo: { kubeletVersion: 'v0.1.0', osImage: 'Debian GNU/Linux 12', kernelVersion: '6.1.0', containerRuntimeVersion: 'crun://1.8' },
    },
  };

  it('nodes: NAME STATUS ROLES AGE VERSION, with SchedulingDisabled and roles from labels', () => {
    expect(tableFor('Node', [node], plain)).toEqual({
      header: ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION'],
      rows: [['h1', 'Ready,SchedulingDisabled', 'control-plane', '2d', 'v0.1.0']],
    });
    expect(tableFor('Node', [node], wide).rows[0]![5]).toBe('10.200.0.11');
  });

  it.each<[string, Node['status'], string]>([
    ['Ready', { conditions: [{ type: 'Ready', status: 'True' }] }, 'Ready'],
    ['NotReady', { conditions: [{ type: 'Ready', status: 'False' }] }, 'NotReady'],
    ['Ready Unknown (a silent node) is NotReady, as kubectl prints it', { conditions: [{ type: 'Ready', status: 'Unknown' }] }, 'NotReady'],
    ['no Ready condition', {}, 'Unknown'],
  ])('a node with %s shows %s', (_n, status, expected) => {
    expect(nodeStatus({ metadata: { name: 'n' }, status })).toBe(expected);
  });

  it('a node without role labels shows <none>', () => {
    expect(nodeRoles({ metadata: { name: 'n', labels: {} } })).toBe('<none>');
  });

  it('events: LAST SEEN TYPE REASON OBJECT MESSAGE', () => {
    const ev: Event = {
      metadata: { name: 'web.1', namespace: 'default' },
      involvedObject: { kind: 'Pod', name: 'web', namespace: 'default' },
      reason: 'Scheduled',
      message: 'Successfully assigned default/web to h1',
      type: 'Normal',
      lastTimestamp: ago(42),
    };
    expect(tableFor('Event', [ev], plain)).toEqual({
      header: ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
      rows: [['42s', 'Normal', 'Scheduled', 'pod/web', 'Successfully assigned default/web to h1']],
    });
  });

  it('configmaps: NAME DATA AGE; secrets: NAME TYPE DATA AGE', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'default', creationTimestamp: ago(30) }, data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } };
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'default', creationTimestamp: ago(30) }, type: 'Opaque', data: { password: 'cw==' } };
    expect(tableFor('ConfigMap', [cm], plain)).toEqual({ header: ['NAME', 'DATA', 'AGE'], rows: [['app', '3', '30s']] });
    expect(tableFor('Secret', [secret], plain)).toEqual({ header: ['NAME', 'TYPE', 'DATA', 'AGE'], rows: [['db', 'Opaque', '1', '30s']] });
  });

  it('a kind without a printer shows NAME and AGE', () => {
    expect(tableFor('Widget', [{ metadata: { name: 'w', creationTimestamp: ago(5) } }], plain)).toEqual({ header: ['NAME', 'AGE'], rows: [['w', '5s']] });
  });
});

describe('-o yaml and -o json', () => {
  it('one named object prints as itself, several as a v1 List', () => {
    const p = pod();
    expect(listOrSingle([p], true)).toBe(p);
    expect(listOrSingle([p, p], false)).toMatchObject({ apiVersion: 'v1', kind: 'List', items: [p, p] });
  });

  it('json is indented by four spaces like kubectl', () => {
    expect(formatJson({ a: 1 })).toBe('{\n    "a": 1\n}\n');
  });

  it('yaml keeps long strings on one line', () => {
    expect(formatYaml({ message: 'x'.repeat(120) })).toBe(`message: ${'x'.repeat(120)}\n`);
  });
});

describe('describe', () => {
  it('lays a pod out like kubectl, ending with its events', () => {
    const p = pod({
      spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }], nodeName: 'h1' },
      status: { phase: 'Running', podIP: '10.244.1.5', containerStatuses: [{ name: 'web', ready: true, restartCount: 0, image: 'nginx', state: { running: { startedAt: '2026-11-23T11:59:00Z' } } }] },
    });
    p.metadata.labels = { app: 'web' };
    const text = describePod(p, [{ metadata: { name: 'e' }, involvedObject: { name: 'web' }, type: 'Normal', reason: 'Scheduled', message: 'Successfully assigned default/web to h1', lastTimestamp: ago(10), source: { component: 'default-scheduler' } }], NOW);
    expect(text).toContain('Name:         web\n');
    expect(text).toContain('Namespace:    default\n');
    expect(text).toContain('Labels:       app=web\n');
    expect(text).toContain('Status:       Running\n');
    expect(text).toContain('    Image:          nginx\n');
    expect(text).toContain('    Port:           80/TCP\n');
    expect(text).toContain('      Started:      Mon, 23 Nov 2026 11:59:00 +0000\n');
    expect(text).toMatch(/Events:\n  Type\s+Reason\s+Age\s+From\s+Message\n  ----\s+------\s+----\s+----\s+-------\n  Normal  Scheduled  10s   default-scheduler  Successfully assigned default\/web to h1\n$/);
  });

  it('says Events: <none> when there are none', () => {
    expect(eventsSection([], NOW)).toEqual(['Events:\t<none>']);
  });
});

describe('describe node', () => {
  it('shows roles, conditions, addresses, capacity and the pods on it', () => {
    const text = describeNode(
      {
        metadata: { name: 'h1', creationTimestamp: '2026-11-20T00:00:00Z', labels: { 'node-role.kubernetes.io/worker': '' } },
        spec: { podCIDR: '10.244.1.0/24' },
        status: {
          conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', message: 'agent is posting ready status', lastHeartbeatTime: '2026-11-23T11:59:50Z', lastTransitionTime: '2026-11-20T00:00:10Z' }],
          addresses: [{ type: 'InternalIP', address: '10.200.0.11' }, { type: 'Hostname', address: 'h1' }],
          capacity: { cpu: '2', memory: '4Gi', pods: '110' },
        },
      },
      [],
      NOW,
      [pod()],
    );
    expect(text).toContain('Roles:              worker\n');
    expect(text).toMatch(/\n  Ready +True +Mon, 23 Nov 2026 11:59:50 \+0000 +Fri, 20 Nov 2026 00:00:10 \+0000 +AgentReady +agent is posting ready status\n/);
    expect(text).toContain('  InternalIP:  10.200.0.11\n');
    expect(text).toContain('  cpu:     2\n');
    expect(text).toMatch(/Non-terminated Pods: +\(1 in total\)\n  Namespace +Name +Age\n  -+ +-+ +-+\n  default +web +3m20s\n/);
    expect(text).toMatch(/Events: +<none>\n$/);
  });
});

describe('describe configmaps and secrets', () => {
  it('shows a ConfigMap key by key, with each value under a rule', async () => {
    const { describeConfigMap } = await import('../../cli/printers/describe.js');
    const text = describeConfigMap({ metadata: { name: 'app', namespace: 'demo' }, data: { mode: 'fast', 'app.conf': 'a=1\n' }, binaryData: { blob: 'AAEC' } }, [], NOW);
    expect(text).toContain('Name:         app\nNamespace:    demo\n');
    expect(text).toContain('Data\n====\napp.conf:\n----\na=1\n\nmode:\n----\nfast\n');
    expect(text).toContain('BinaryData\n====\nblob: 3 bytes\n');
  });

  it('shows a Secret with its type and the size of each value, never a value', async () => {
    const { describeSecret } = await import('../../cli/printers/describe.js');
    const text = describeSecret({ metadata: { name: 'db', namespace: 'demo' }, type: 'Opaque', data: { password: Buffer.from('s3cret').toString('base64') } }, [], NOW);
    expect(text).toMatch(/Type: +Opaque\n/);
    expect(text).toMatch(/password: +6 bytes\n/);
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain(Buffer.from('s3cret').toString('base64'));
  });
});

// --- workloads ---------------------------------------------------------------

const tpl = (image: string, extra: Record<string, unknown> = {}) => ({
  metadata: { labels: { app: 'web' } },
  spec: { containers: [{ name: 'web', image, ports: [{ containerPort: 80 }] }, { name: 'side', image: 'busybox:1.36' }], ...extra },
});
const workloads = {
  Deployment: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'default', creationTimestamp: ago(60) }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: tpl('nginx:1.27') }, status: { readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2 } },
  ReplicaSet: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-7f9b', namespace: 'default', creationTimestamp: ago(60) }, spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: tpl('nginx:1.27') }, status: { replicas: 2, readyReplicas: 1 } },
  DaemonSet: { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent', namespace: 'default', creationTimestamp: ago(60) }, spec: { selector: { matchLabels: { app: 'web' } }, template: tpl('nginx:1.27') }, status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3, numberMisscheduled: 0 } },
  Job: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'pi', namespace: 'default', creationTimestamp: ago(60) }, spec: { selector: { matchLabels: { app: 'web' } }, template: tpl('nginx:1.27') }, status: {} },
  CronJob: { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'tick', namespace: 'default', creationTimestamp: ago(60) }, spec: { schedule: '* * * * *', jobTemplate: { spec: { selector: { matchLabels: { app: 'web' } }, template: tpl('nginx:1.27') } } }, status: {} },
};

describe('workload wide columns', () => {
  it.each(Object.keys(workloads))('%s ends its wide row with CONTAINERS, IMAGES and SELECTOR, as the server Table does', (kind) => {
    const o = workloads[kind as keyof typeof workloads] as unknown as Pod;
    const cli = tableFor(kind, [o], { wide: true, withNamespace: false, now: NOW });
    expect(cli.header.slice(-3)).toEqual(['CONTAINERS', 'IMAGES', 'SELECTOR']);
    expect(cli.rows[0]!.slice(-3)).toEqual(['web,side', 'nginx:1.27,busybox:1.36', 'app=web']);
    const t = toTable(kind, [o], { nowMs: NOW });
    expect(t.rows.map((r) => r.cells.map(String))).toEqual(cli.rows);
  });

  it('a workload without template or selector shows empty cells and <none>', () => {
    const bare = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'x', creationTimestamp: ago(5) }, spec: {} };
    expect(tableFor('ReplicaSet', [bare], { wide: true, withNamespace: false, now: NOW }).rows[0]!.slice(-3)).toEqual(['', '', '<none>']);
  });
});

const ownedBy = (kind: string, name: string, uid: string) => [{ apiVersion: 'apps/v1', kind, name, uid, controller: true }];
const rsOf = (name: string, image: string, replicas: number, created: number): ReplicaSet =>
  ({
    metadata: { name, namespace: 'default', uid: name, creationTimestamp: ago(created), labels: { app: 'web', 'pod-template-hash': name.slice(4) }, ownerReferences: ownedBy('Deployment', 'web', 'd-1') },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web', 'pod-template-hash': name.slice(4) } }, spec: { containers: [{ name: 'web', image }] } } },
    status: { replicas },
  }) as ReplicaSet;

const deployment: Deployment = {
  metadata: { name: 'web', namespace: 'default', uid: 'd-1', creationTimestamp: '2026-11-23T11:00:00Z', labels: { app: 'web' }, annotations: { 'deployment.kubernetes.io/revision': '2' } },
  spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } }, strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: 1 } } },
  status: { replicas: 4, updatedReplicas: 3, availableReplicas: 3, unavailableReplicas: 1, conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }, { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' }] },
};

describe('describe deployment', () => {
  it('prints kubectl\'s layout: replicas line, strategy, pod template, conditions, old and new ReplicaSets, events', () => {
    const sets = [rsOf('web-7f9b', 'nginx:1.27', 3, 60), rsOf('web-5d8c', 'nginx:1.25', 1, 3000), rsOf('web-4a1a', 'nginx:1.20', 0, 9000)];
    const ev: Event = { metadata: { name: 'e' }, involvedObject: { name: 'web' }, type: 'Normal', reason: 'ScalingReplicaSet', message: 'Scaled up replica set web-7f9b to 3', lastTimestamp: ago(50), source: { component: 'deployment-controller' } };
    expect(describeDeployment(deployment, sets, [ev], NOW)).toBe(
      [
        'Name:                   web',
        'Namespace:              default',
        'CreationTimestamp:      Mon, 23 Nov 2026 11:00:00 +0000',
        'Labels:                 app=web',
        'Annotations:            deployment.kubernetes.io/revision: 2',
        'Selector:               app=web',
        'Replicas:               3 desired | 3 updated | 4 total | 3 available | 1 unavailable',
        'StrategyType:           RollingUpdate',
        'MinReadySeconds:        0',
        'RollingUpdateStrategy:  25% max unavailable, 1 max surge',
        'Pod Template:',
        '  Labels:  app=web',
        '  Containers:',
        '   web:',
        '    Image:         nginx:1.27',
        '    Port:          <none>',
        '    Host Port:     <none>',
        '    Environment:   <none>',
        '    Mounts:        <none>',
        '  Volumes:         <none>',
        '  Node-Selectors:  <none>',
        '  Tolerations:     <none>',
        'Conditions:',
        '  Type           Status  Reason',
        '  ----           ------  ------',
        '  Available      True    MinimumReplicasAvailable',
        '  Progressing    True    ReplicaSetUpdated',
        'OldReplicaSets:  web-4a1a (0/0 replicas created), web-5d8c (1/1 replicas created)',
        'NewReplicaSet:   web-7f9b (3/3 replicas created)',
        'Events:',
        '  Type    Reason             Age   From                   Message',
        '  ----    ------             ----  ----                   -------',
        '  Normal  ScalingReplicaSet  50s   deployment-controller  Scaled up replica set web-7f9b to 3',
        '',
      ].join('\n'),
    );
  });

  it('the new ReplicaSet is the one with the deployment\'s template; the old ones are all the others it controls, oldest first', () => {
    const fresh = rsOf('web-7f9b', 'nginx:1.27', 3, 60);
    const stray = { ...rsOf('web-0000', 'nginx:1.27', 3, 10), metadata: { ...fresh.metadata, name: 'web-0000', ownerReferences: ownedBy('Deployment', 'web', 'other') } } as ReplicaSet;
    const r = deploymentReplicaSets(deployment, [rsOf('web-5d8c', 'nginx:1.25', 2, 3000), stray, fresh, rsOf('web-4a1a', 'nginx:1.20', 0, 9000)]);
    expect(r.newRS?.metadata.name).toBe('web-7f9b');
    expect(r.oldRSs.map((x) => x.metadata.name)).toEqual(['web-4a1a', 'web-5d8c']);
    expect(describeDeployment({ ...deployment, spec: { ...deployment.spec, template: tpl('nginx:2') as never } }, [], [], NOW)).toMatch(/\nOldReplicaSets: +<none>\nNewReplicaSet: +<none>\n/);
  });
});

const podIn = (phase: string): Pod => pod({ status: { phase } as Pod['status'] });

describe('describe replicaset, daemonset, job and cronjob', () => {
  it('a ReplicaSet shows its controller, replicas, pod phases and conditions', () => {
    const rs = rsOf('web-7f9b', 'nginx:1.27', 3, 60);
    rs.status = { replicas: 2, conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate' }] };
    const text = describeReplicaSet(rs, [podIn('Running'), podIn('Running'), podIn('Pending'), podIn('Failed')], [], NOW);
    expect(text).toMatch(/^Name: +web-7f9b\nNamespace: +default\nSelector: +app=web\nLabels: +app=web\n +pod-template-hash=7f9b\nAnnotations: +<none>\n/);
    expect(text).toContain('Controlled By:  Deployment/web\n');
    expect(text).toContain('Replicas:       2 current / 3 desired\n');
    expect(text).toContain('Pods Status:    2 Running / 1 Waiting / 0 Succeeded / 1 Failed\n');
    expect(text).toContain('  Labels:  app=web\n           pod-template-hash=7f9b\n');
    expect(text).toMatch(/\nConditions:\n {2}Type +Status +Reason\n {2}-+ +-+ +-+\n {2}ReplicaFailure +True +FailedCreate\nEvents: +<none>\n$/);
  });

  it('a DaemonSet prints the node counts on lines of their own, as kubectl does', () => {
    const ds: DaemonSet = {
      metadata: { name: 'agent', namespace: 'kube-system', annotations: { 'deprecated.daemonset.template.generation': '2' } },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: {
            nodeSelector: { 'kubernetes.io/os': 'linux' },
            tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }],
            containers: [{ name: 'main', image: 'busybox:1.36', env: [{ name: 'MODE', value: 'fast' }], volumeMounts: [{ name: 'logs', mountPath: '/var/log', readOnly: true }] }],
            volumes: [{ name: 'logs', hostPath: { path: '/var/log' } }],
          },
        },
      },
      status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 2, numberMisscheduled: 1, updatedNumberScheduled: 2, numberAvailable: 2 },
    };
    expect(describeDaemonSet(ds, [podIn('Running'), podIn('Running'), podIn('Pending')], [], NOW)).toBe(
      [
        'Name:           agent',
        'Namespace:      kube-system',
        'Selector:       app=agent',
        'Node-Selector:  kubernetes.io/os=linux',
        'Labels:         <none>',
        'Annotations:    deprecated.daemonset.template.generation: 2',
        'Desired Number of Nodes Scheduled: 3',
        'Current Number of Nodes Scheduled: 3',
        'Number of Nodes Scheduled with Up-to-date Pods: 2',
        'Number of Nodes Scheduled with Available Pods: 2',
        'Number of Nodes Misscheduled: 1',
        'Pods Status:  2 Running / 1 Waiting / 0 Succeeded / 0 Failed',
        'Pod Template:',
        '  Labels:  app=agent',
        '  Containers:',
        '   main:',
        '    Image:      busybox:1.36',
        '    Port:       <none>',
        '    Host Port:  <none>',
        '    Environment:',
        '      MODE:  fast',
        '    Mounts:',
        '      /var/log from logs (ro)',
        '  Volumes:',
        '   logs:',
        '    Type:          HostPath (bare host directory volume)',
        '    Path:          /var/log',
        '    HostPathType:',
        '  Node-Selectors:  kubernetes.io/os=linux',
        '  Tolerations:     node-role.kubernetes.io/control-plane:NoSchedule op=Exists',
        'Events:            <none>',
        '',
      ].join('\n'),
    );
  });

  it('a finished Job shows its sizes, times, duration and pod statuses', () => {
    const job: Job = {
      metadata: { name: 'pi', namespace: 'default', ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'nightly', uid: 'c-1', controller: true }] },
      spec: { parallelism: 1, completions: 1, completionMode: 'NonIndexed', suspend: false, backoffLimit: 4, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'j-1' } }, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'perl:5.34', command: ['perl', '-Mbignum=bpi', '-wle', 'print bpi(2000)'] }] } } },
      status: { startTime: '2026-11-23T11:58:00Z', completionTime: '2026-11-23T11:59:05Z', succeeded: 1, ready: 0 },
    };
    const text = describeJob(job, [], NOW);
    expect(text).toMatch(
      /^Name: +pi\nNamespace: +default\nSelector: +batch\.kubernetes\.io\/controller-uid=j-1\nLabels: +<none>\nAnnotations: +<none>\nControlled By: +CronJob\/nightly\nParallelism: +1\nCompletions: +1\nCompletion Mode: +NonIndexed\nSuspend: +false\nBackoff Limit: +4\nStart Time: +Mon, 23 Nov 2026 11:58:00 \+0000\nCompleted At: +Mon, 23 Nov 2026 11:59:05 \+0000\nDuration: +65s\nPods Statuses: +0 Active \(0 Ready\) \/ 1 Succeeded \/ 0 Failed\nPod Template:\n/,
    );
    expect(text).toContain('    Command:\n      perl\n      -Mbignum=bpi\n');
    expect(text).not.toContain('Completed Indexes');
  });

  it('an Indexed Job lists its completed indexes; without ready counts the Ready part is left out', () => {
    const job: Job = { metadata: { name: 'idx', namespace: 'default' }, spec: { completions: 5, completionMode: 'Indexed', template: { spec: { containers: [{ name: 'c', image: 'x' }] } } }, status: { active: 2, succeeded: 3, completedIndexes: '0-2' } };
    const text = describeJob(job, [], NOW);
    expect(text).toMatch(/\nPods Statuses: +2 Active \/ 3 Succeeded \/ 0 Failed\nCompleted Indexes: +0-2\n/);
    expect(text).not.toContain('Parallelism');
  });

  it('a CronJob shows its schedule, policies, the job template and its active jobs', () => {
    const cj: CronJob = {
      metadata: { name: 'tick', namespace: 'default' },
      spec: { schedule: '*/5 * * * *', concurrencyPolicy: 'Forbid', suspend: true, successfulJobsHistoryLimit: 3, startingDeadlineSeconds: 30, jobTemplate: { spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } } } } },
      status: { lastScheduleTime: '2026-11-23T11:55:00Z', active: [{ kind: 'Job', name: 'tick-2941' }, { kind: 'Job', name: 'tick-2942' }] },
    };
    const text = describeCronJob(cj, [], NOW);
    expect(text).toMatch(
      /^Name: +tick\nNamespace: +default\nLabels: +<none>\nAnnotations: +<none>\nSchedule: +\*\/5 \* \* \* \*\nConcurrency Policy: +Forbid\nSuspend: +True\nSuccessful Job History Limit: +3\nFailed Job History Limit: +<unset>\nStarting Deadline Seconds: +30s\nSelector: +<unset>\nParallelism: +<unset>\nCompletions: +<unset>\nPod Template:\n/,
    );
    expect(text).toMatch(/\nLast Schedule Time: +Mon, 23 Nov 2026 11:55:00 \+0000\nActive Jobs: +tick-2941, tick-2942\nEvents: +<none>\n$/);
  });

  it('pods count by phase: Pending is Waiting', () => {
    expect(podPhaseCounts([podIn('Running'), podIn('Pending'), pod(), podIn('Succeeded'), podIn('Failed'), podIn('Unknown')])).toEqual({ running: 1, waiting: 2, succeeded: 1, failed: 1 });
  });

  it('a pod\'s own describe keeps its container statuses and shows host ports', () => {
    const p = pod({ spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80, hostPort: 8080 }] }] }, status: { phase: 'Running' } });
    const text = describePod(p, [], NOW);
    expect(text).toContain('  web:\n    Container ID:\n    Image:          nginx\n    Image ID:\n    Port:           80/TCP\n    Host Port:      8080/TCP\n    State:          Waiting\n    Ready:          False\n    Restart Count:  0\n');
  });
});
