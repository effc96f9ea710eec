import { describe, expect, it } from 'vitest';
import type { Event, Node, Pod } from '../../api/index.js';
import { age, humanDuration } from '../../cli/printers/age.js';
import { nodeRoles, nodeStatus, podStatusReason, tableFor } from '../../cli/printers/columns.js';
import { toTable } from '../../controller/apiserver/table.js';
import { describeNode, describePod, eventsSection } from '../../cli/printers/describe.js';
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
