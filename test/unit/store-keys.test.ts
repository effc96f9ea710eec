// Pure pieces of the etcd store: keys, messages, error mapping, watch event classification.
import { describe, expect, it } from 'vitest';
import { FlotillaError, NotFoundError } from '../../api/index.js';
import {
  alreadyExistsMessage,
  classifyWatchEvent as classifyEvent,
  conflictMessage,
  EtcdHostSkippedError,
  etcdArgs,
  fromEtcdError,
  goneMessage,
  isRetryableEtcdError as isRetryable,
  keyFor,
  keyRangeEnd as rangeEnd,
  notFoundMessage,
  prefixFor,
  scrubEtcdEnv,
} from '../../controller/index.js';

describe('store keys', () => {
  it.each([
    [{ resource: 'pods', namespace: 'default', name: 'web' }, '/flotilla/pods/default/web'],
    [{ resource: 'nodes', name: 'n1' }, '/flotilla/nodes/n1'],
    [{ resource: 'events', namespace: 'kube-system', name: 'web.1' }, '/flotilla/events/kube-system/web.1'],
  ])('the key of %o is %s', (key, want) => {
    expect(keyFor(key)).toBe(want);
  });

  it('prefixes end in a slash so pods never match podtemplates', () => {
    expect(prefixFor('pods')).toBe('/flotilla/pods/');
    expect(prefixFor('pods', 'default')).toBe('/flotilla/pods/default/');
    expect(prefixFor('pods', '')).toBe('/flotilla/pods/');
  });

  it('the range end of a prefix is the prefix with its last byte incremented', () => {
    expect(rangeEnd('/flotilla/pods/').toString()).toBe('/flotilla/pods0');
  });
});

describe('store messages', () => {
  it('are worded as Kubernetes words them', () => {
    expect(alreadyExistsMessage('pods', 'web')).toBe('pods "web" already exists');
    expect(notFoundMessage('pods', 'web')).toBe('pods "web" not found');
    expect(conflictMessage('pods', 'web')).toBe(
      'Operation cannot be fulfilled on pods "web": the object has been modified; please apply your changes to the latest version and try again',
    );
    expect(goneMessage(5, 120)).toBe('too old resource version: 5 (120)');
  });

});

describe('etcd error mapping', () => {
  const grpc = (code: number, message: string) => Object.assign(new Error(message), { code });
  class GRPCUnavailableError extends Error {}
  class GRPCDeadlineExceededError extends Error {}
  class ClientClosedError extends Error {}

  it.each<[string, unknown, string, boolean]>([
    ['a refused connection', new GRPCUnavailableError('14 UNAVAILABLE: No connection established'), 'Unavailable', true],
    ['no leader', grpc(14, 'etcdserver: no leader'), 'Unavailable', true],
    ['a leader change', new Error('etcdserver: leader changed'), 'Unavailable', true],
    ['a closed client', new ClientClosedError('closed'), 'Unavailable', true],
    ['a missed deadline', new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED'), 'Timeout', true],
    ['a compacted revision', grpc(11, 'etcdserver: mvcc: required revision has been compacted'), 'Gone', false],
    ['an oversize request', grpc(3, 'etcdserver: request is too large'), 'RequestEntityTooLarge', false],
    ['anything else', new Error('boom'), 'Internal', false],
  ])('%s becomes %s', (_what, err, code, retryable) => {
    const e = fromEtcdError(err);
    expect(e).toBeInstanceOf(FlotillaError);
    expect(e.code).toBe(code);
    expect(isRetryable(e)).toBe(retryable);
  });

  it('a tripped host breaker is a retryable 503 that says how long to wait (not a 500)', () => {
    const e = fromEtcdError(new EtcdHostSkippedError(2));
    expect(e.code).toBe('Unavailable');
    expect(isRetryable(e)).toBe(true);
    expect(e.message).toBe('etcd is unavailable: etcd host skipped after repeated failures');
    expect(e.details.retryAfterSeconds).toBe(2);
    // Errors named by their name alone (a plain Error with name set) are recognised too.
    expect(fromEtcdError(Object.assign(new Error('x'), { name: 'GRPCUnavailableError' })).code).toBe('Unavailable');
  });

  it('typed errors pass through unchanged', () => {
    const e = new NotFoundError('pods "x" not found');
    expect(fromEtcdError(e)).toBe(e);
  });
});

describe('watch event classification with a filter', () => {
  it.each<[string, 'put' | 'delete', boolean, boolean, boolean | undefined, string | undefined]>([
    ['a created object that matches', 'put', true, true, undefined, 'ADDED'],
    ['a created object that does not match', 'put', true, false, undefined, undefined],
    ['an update that keeps matching', 'put', false, true, true, 'MODIFIED'],
    ['an update that starts matching', 'put', false, true, false, 'ADDED'],
    ['an update that stops matching', 'put', false, false, true, 'DELETED'],
    ['an update that never matches', 'put', false, false, false, undefined],
    ['an update whose previous value was compacted', 'put', false, true, undefined, 'MODIFIED'],
    ['a delete of a matching object', 'delete', false, false, true, 'DELETED'],
    ['a delete of an object that did not match', 'delete', false, false, false, undefined],
  ])('%s', (_what, kind, created, cur, prev, want) => {
    expect(classifyEvent(kind, created, cur, prev)).toBe(want);
  });
});

describe('managed etcd command line', () => {
  const args = etcdArgs({
    name: 'flotilla',
    dataDir: '/var/lib/flotilla/etcd',
    host: '127.0.0.1',
    ports: { client: 40001, peer: 40002 },
    autoCompactionRetention: '10m',
    quotaBackendBytes: 2 ** 31,
    maxRequestBytes: 4 << 20,
  });
  const flag = (f: string) => args[args.indexOf(f) + 1];

  it('listens on loopback only', () => {
    expect(flag('--listen-client-urls')).toBe('http://127.0.0.1:40001');
    expect(flag('--listen-peer-urls')).toBe('http://127.0.0.1:40002');
    expect(flag('--initial-cluster')).toBe('flotilla=http://127.0.0.1:40002');
  });

  it('is tuned to start fast and compacts its history', () => {
    expect(flag('--heartbeat-interval')).toBe('10');
    expect(flag('--election-timeout')).toBe('100');
    expect(flag('--auto-compaction-mode')).toBe('periodic');
    expect(flag('--auto-compaction-retention')).toBe('10m');
    expect(flag('--data-dir')).toBe('/var/lib/flotilla/etcd');
  });

  it('the child environment has no ETCD_* variables', () => {
    expect(scrubEtcdEnv({ PATH: '/bin', ETCD_NAME: 'x', ETCDCTL_API: '3', HOME: '/root' })).toEqual({ PATH: '/bin', HOME: '/root' });
  });
});
