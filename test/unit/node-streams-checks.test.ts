// The controller's decisions before it dials a node for logs or exec: which
// container is meant, and whether the log or the running process can exist.
import { describe, expect, it } from 'vitest';
import type { Node, Pod } from '../../api/index.js';
import { checkExecTarget, checkLogTarget, logsRequestOf, pickContainer, streamEndpointOf } from '../../controller/streams/index.js';

function pod(over: { containers?: string[]; nodeName?: string; phase?: string; statuses?: Record<string, unknown>[] } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', uid: 'u1' },
    spec: { containers: (over.containers ?? ['main']).map((name) => ({ name, image: 'busybox' })), ...(over.nodeName === undefined ? { nodeName: 'n1' } : over.nodeName ? { nodeName: over.nodeName } : {}) },
    status: { phase: (over.phase ?? 'Running') as 'Running', containerStatuses: (over.statuses ?? []) as never },
  } as Pod;
}

const running = { name: 'main', ready: true, restartCount: 0, image: 'busybox', containerID: 'crun://1', state: { running: { startedAt: '2026-01-01T00:00:00Z' } } };
const creating = { name: 'main', ready: false, restartCount: 0, image: 'busybox', state: { waiting: { reason: 'ContainerCreating' } } };
const crashLooping = {
  name: 'main',
  ready: false,
  restartCount: 2,
  image: 'busybox',
  containerID: 'crun://2',
  state: { waiting: { reason: 'CrashLoopBackOff' } },
  lastState: { terminated: { exitCode: 1, reason: 'Error' } },
};

describe('logs and exec targets', () => {
  it.each([
    ['the only container when none is named', ['main'], undefined, 'main'],
    ['the named container', ['main', 'side'], 'side', 'side'],
  ])('picks %s', (_what, containers, requested, want) => {
    expect(pickContainer(pod({ containers }), requested)).toBe(want);
  });

  it('asks for a name when the pod has several containers, and refuses unknown ones', () => {
    expect(() => pickContainer(pod({ containers: ['main', 'side'] }), undefined)).toThrow('a container name must be specified for pod web, choose one of: [main side]');
    expect(() => pickContainer(pod(), 'nope')).toThrow('container nope is not valid for pod web');
  });

  it.each([
    ['an unscheduled pod', pod({ nodeName: '' }), false, 'pod web does not have a host assigned'],
    ['a container still being created', pod({ statuses: [creating] }), false, 'container "main" in pod "web" is waiting to start: ContainerCreating'],
    ['a pod without container statuses yet', pod({ phase: 'Pending' }), false, 'is waiting to start: ContainerCreating'],
    ['--previous of a container that never restarted', pod({ statuses: [running] }), true, 'previous terminated container "main" in pod "web" not found'],
  ])('refuses logs of %s', (_what, p, previous, message) => {
    expect(() => checkLogTarget(p, 'main', previous)).toThrow(message);
  });

  it('serves logs of a running container, and both logs of a crash-looping one', () => {
    expect(checkLogTarget(pod({ statuses: [running] }), 'main', false)).toBe('n1');
    expect(checkLogTarget(pod({ statuses: [crashLooping] }), 'main', false)).toBe('n1');
    expect(checkLogTarget(pod({ statuses: [crashLooping] }), 'main', true)).toBe('n1');
  });

  it.each([
    ['a completed pod', pod({ phase: 'Succeeded', statuses: [running] }), 'cannot exec into a container in a completed pod; current phase is Succeeded'],
    ['a container waiting to restart', pod({ statuses: [crashLooping] }), 'container "main" in pod "web" is not running: CrashLoopBackOff'],
    ['a container being created', pod({ statuses: [creating] }), 'is not running: ContainerCreating'],
  ])('refuses exec in %s', (_what, p, message) => {
    expect(() => checkExecTarget(p, 'main')).toThrow(message);
  });

  it('maps the log query to the agent request, keeping tail 0 and dropping a negative tail', () => {
    const p = pod();
    expect(logsRequestOf(p, 'main', { follow: 'true', tailLines: '0', timestamps: 'true' })).toEqual({
      pod: { namespace: 'default', name: 'web', uid: 'u1' },
      container: 'main',
      follow: true,
      previous: false,
      timestamps: true,
      tailLines: 0,
    });
    expect(logsRequestOf(p, 'main', { tailLines: '-1', sinceSeconds: '60', limitBytes: '100' })).toMatchObject({ sinceSeconds: 60, limitBytes: 100 });
    expect(logsRequestOf(p, 'main', { tailLines: '-1' }).tailLines).toBeUndefined();
    expect(() => logsRequestOf(p, 'main', { tailLines: 'ten' })).toThrow('invalid tailLines "ten": must be an integer');
    expect(() => logsRequestOf(p, 'main', { sinceSeconds: '0' })).toThrow('sinceSeconds must be greater than 0');
    const now = Date.parse('2026-11-23T08:00:00Z');
    expect(logsRequestOf(p, 'main', { sinceTime: '2026-11-23T07:58:59.5Z' }, now).sinceSeconds).toBe(61);
    expect(() => logsRequestOf(p, 'main', { sinceTime: 'yesterday' }, now)).toThrow('invalid sinceTime "yesterday": must be an RFC 3339 time');
    expect(() => logsRequestOf(p, 'main', { sinceTime: '2026-11-23T07:00:00Z', sinceSeconds: '5' }, now)).toThrow('at most one of sinceTime or sinceSeconds may be specified');
  });

  it('reaches a node at its InternalIP and advertised port, and says why not otherwise', () => {
    const node = (status: Node['status']): Node => ({ metadata: { name: 'n1' }, status });
    expect(streamEndpointOf(node({ addresses: [{ type: 'InternalIP', address: '10.0.0.5' }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } }))).toEqual({
      address: '10.0.0.5',
      port: 10250,
    });
    expect(() => streamEndpointOf(node({ addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] }))).toThrow(/advertises no stream port/);
    expect(() => streamEndpointOf(node({ daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } }))).toThrow(/no InternalIP/);
  });
});
