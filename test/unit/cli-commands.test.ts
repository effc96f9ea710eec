import { describe, expect, it } from 'vitest';
import type { ControllerRevision, DaemonSet } from '../../api/index.js';
import { daemonSetRolloutStatus, pickDaemonSetRevision, revisionTemplate } from '../../cli/commands/rollout-kinds.js';
import { connectionErrorFor, buildUrl } from '../../cli/client.js';
import { parseGetArgs } from '../../cli/commands/get.js';
import { deleteOptionsFor } from '../../cli/commands/delete.js';
import { ApiStatusError, formatError, UsageError } from '../../cli/errors.js';
import { matchResource, refsFromList, resourcePath } from '../../cli/resources.js';
import { normalizeBooleanFlags } from '../../cli/program.js';

const refs = refsFromList(
  {
    resources: [
      { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', shortNames: ['po'] },
      { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod' },
      { name: 'nodes', singularName: '', namespaced: false, kind: 'Node', shortNames: ['no'] },
    ],
  },
  'v1',
);

describe('resource names', () => {
  it.each(['pods', 'pod', 'po', 'Pod', 'PODS'])('"%s" names pods', (w) => {
    expect(matchResource(refs, w)?.plural).toBe('pods');
  });

  it('a missing singular name falls back to the lower-case kind', () => {
    expect(matchResource(refs, 'node')?.plural).toBe('nodes');
  });

  it('subresources are not resource types', () => {
    expect(refs.map((r) => r.plural)).toEqual(['pods', 'nodes']);
  });

  it('builds namespaced and cluster-scoped paths', () => {
    expect(resourcePath(refs[0]!, 'default', 'web')).toBe('/api/v1/namespaces/default/pods/web');
    expect(resourcePath(refs[0]!, undefined)).toBe('/api/v1/pods');
    expect(resourcePath(refs[1]!, 'ignored', 'h1')).toBe('/api/v1/nodes/h1');
  });

  it('query values are escaped and lists repeated', () => {
    expect(buildUrl('https://h:1/', '/x', { fieldSelector: 'a=b,c=d', command: ['ls', '-l'], empty: '' })).toBe(
      'https://h:1/x?fieldSelector=a%3Db%2Cc%3Dd&command=ls&command=-l',
    );
  });
});

describe('get arguments', () => {
  it.each<[string[], { type: string; names: string[] }[]]>([
    [['pods'], [{ type: 'pods', names: [] }]],
    [['po', 'web', 'db'], [{ type: 'po', names: ['web', 'db'] }]],
    [['pods,nodes'], [{ type: 'pods', names: [] }, { type: 'nodes', names: [] }]],
    [['pod/web', 'node/h1', 'pod/db'], [{ type: 'pod', names: ['web', 'db'] }, { type: 'node', names: ['h1'] }]],
  ])('%j', (args, want) => {
    expect(parseGetArgs(args)).toEqual(want);
  });

  it('no type at all is an error that says so', () => {
    expect(() => parseGetArgs([])).toThrow('You must specify the type of resource to get');
  });

  it('mixing TYPE and TYPE/NAME is an error', () => {
    expect(() => parseGetArgs(['pods', 'pod/web'])).toThrow(/no need to specify a resource type/);
  });
});

describe('delete options', () => {
  it.each<[object, object]>([
    [{}, {}],
    [{ gracePeriod: '5' }, { gracePeriodSeconds: 5 }],
    [{ now: true }, { gracePeriodSeconds: 1 }],
    [{ gracePeriod: '0' }, { gracePeriodSeconds: 1 }],
    [{ gracePeriod: '0', force: true }, { gracePeriodSeconds: 0 }],
    [{ force: true }, { gracePeriodSeconds: 0 }],
    [{ cascade: 'foreground' }, { propagationPolicy: 'Foreground' }],
    [{ cascade: 'orphan' }, { propagationPolicy: 'Orphan' }],
    [{ cascade: 'background' }, { propagationPolicy: 'Background' }],
    [{ cascade: true }, { propagationPolicy: 'Background' }],
    [{ cascade: 'false' }, { propagationPolicy: 'Orphan' }],
  ])('%j sends %j', (flags, body) => {
    expect(deleteOptionsFor(flags)).toEqual(body);
  });

  it('--cascade names its three policies', () => {
    expect(() => deleteOptionsFor({ cascade: 'sideways' })).toThrow('invalid argument "sideways" for "--cascade" flag: must be "background", "foreground", or "orphan"');
  });

  it('--grace-period must be a number', () => {
    expect(() => deleteOptionsFor({ gracePeriod: 'soon' })).toThrow('invalid argument "soon" for "--grace-period" flag');
  });
});

describe('errors as users see them', () => {
  it('a server Status prints as Error from server (Reason): message', () => {
    const e = ApiStatusError.fromResponse(
      404,
      JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'pods "web" not found', reason: 'NotFound', details: { name: 'web', kind: 'pods' }, code: 404 }),
    );
    expect(e.code).toBe('NotFound');
    expect(e.message).toBe('pods "web" not found');
    expect(formatError(e)).toBe('Error from server (NotFound): pods "web" not found');
  });

  it('an Invalid Status prints kubectl\'s "The Pod ... is invalid" line', () => {
    const e = ApiStatusError.fromResponse(
      422,
      JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Pod "web" is invalid: spec.containers[0].image: Required value', reason: 'Invalid', details: { name: 'web', kind: 'Pod' }, code: 422 }),
    );
    expect(formatError(e)).toBe('The Pod "web" is invalid: spec.containers[0].image: Required value');
  });

  it('a reply that is not a Status still names the HTTP code', () => {
    expect(formatError(ApiStatusError.fromResponse(502, 'bad gateway'))).toBe('Error from server (Unknown): the server responded with HTTP 502: bad gateway');
  });

  it('401 says to log in', () => {
    expect(formatError(ApiStatusError.fromResponse(401, ''))).toBe('error: You must be logged in to the server (Unauthorized)');
  });

  it('a refused connection names host and port', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
    expect(formatError(connectionErrorFor('https://127.0.0.1:6443', new TypeError('fetch failed', { cause: err })))).toBe(
      'The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?',
    );
  });

  it('an untrusted certificate says so', () => {
    const err = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    expect(formatError(connectionErrorFor('https://127.0.0.1:6443', err))).toBe('Unable to connect to the server: x509: certificate signed by unknown authority');
  });

  it('usage errors point at the command help', () => {
    expect(formatError(new UsageError('bad flag', 'get'))).toBe("error: bad flag\nSee 'flotctl get --help' for usage.");
  });
});

describe('kubectl-style boolean flags', () => {
  it.each<[string[], string[]]>([
    [['delete', 'pod', 'web', '--wait=false'], ['delete', 'pod', 'web', '--no-wait']],
    [['delete', 'pod', 'web', '--wait=true'], ['delete', 'pod', 'web', '--wait']],
    [['get', 'pods', '--all-namespaces=false'], ['get', 'pods']],
    [['get', 'pods', '--no-headers=true'], ['get', 'pods', '--no-headers']],
    [['exec', 'web', '--', 'x', '--wait=false'], ['exec', 'web', '--', 'x', '--wait=false']],
    [['get', 'pods', '-o=json'], ['get', 'pods', '-o', 'json']],
    [['get', 'pods', '--watch=false'], ['get', 'pods']],
    [['rollout', 'status', 'ds/agent', '--watch=false'], ['rollout', 'status', 'ds/agent', '--no-watch']],
  ])('%j reads as %j', (argv, want) => {
    expect(normalizeBooleanFlags(argv)).toEqual(want);
  });
});

describe('daemon set rollout status, as kubectl words it', () => {
  const ds = (over: { generation?: number; strategy?: 'RollingUpdate' | 'OnDelete'; status?: Partial<DaemonSet['status']> }): DaemonSet => ({
    metadata: { name: 'agent', generation: over.generation ?? 3 },
    spec: { selector: { matchLabels: { app: 'agent' } }, template: { spec: { containers: [] } }, updateStrategy: { type: over.strategy ?? 'RollingUpdate' } },
    status: { desiredNumberScheduled: 3, currentNumberScheduled: 3, numberReady: 3, numberMisscheduled: 0, observedGeneration: 3, updatedNumberScheduled: 3, numberAvailable: 3, ...over.status },
  });

  it.each<[string, DaemonSet, string, boolean]>([
    ['a spec the controller has not seen yet', ds({ generation: 4 }), 'Waiting for daemon set spec update to be observed...', false],
    ['nodes still on the old template', ds({ status: { updatedNumberScheduled: 1 } }), 'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...', false],
    ['updated pods not yet available', ds({ status: { numberAvailable: 2 } }), 'Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...', false],
    ['every node updated and available', ds({}), 'daemon set "agent" successfully rolled out', true],
    ['no status fields at all yet', { ...ds({ generation: 1 }), status: undefined }, 'Waiting for daemon set spec update to be observed...', false],
  ])('%s', (_name, d, message, done) => {
    expect(daemonSetRolloutStatus(d)).toEqual({ message, done });
  });

  it('an OnDelete daemon set has no rollout status', () => {
    expect(daemonSetRolloutStatus(ds({ strategy: 'OnDelete' })).error).toBe('rollout status is only available for RollingUpdate strategy type');
  });
});

describe('daemon set revisions', () => {
  const rev = (n: number, image: string): ControllerRevision => ({
    metadata: { name: `agent-${n}` },
    revision: n,
    data: { spec: { template: { metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'main', image }] }, $patch: 'replace' } } },
  });
  const history = [rev(3, 'c'), rev(1, 'a'), rev(2, 'b')];

  it('undo goes back to the revision before the newest, or the one asked for', () => {
    expect(pickDaemonSetRevision(history, 0).revision).toBe(2);
    expect(pickDaemonSetRevision(history, 1).revision).toBe(1);
  });

  it.each<[ControllerRevision[], number, string]>([
    [[rev(1, 'a')], 0, 'no last revision to roll back to'],
    [history, 9, 'unable to find specified revision 9 in history'],
    [history, -1, 'unable to find specified revision -1 in history'],
  ])('%#: undo to %s of a short history fails with kubectl\'s words', (h, to, message) => {
    expect(() => pickDaemonSetRevision(h, to)).toThrow(message);
  });

  it('the template of a revision is its data without the replace directive', () => {
    expect(revisionTemplate(rev(1, 'a'))).toEqual({ metadata: { labels: { app: 'agent' } }, spec: { containers: [{ name: 'main', image: 'a' }] } });
    expect(revisionTemplate({ metadata: { name: 'x' }, revision: 1 })).toBeUndefined();
  });
});
