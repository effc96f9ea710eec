import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { initStateDir, loadStateDir, statePaths } from '../../controller/pki/state-dir.js';
import { TokenAuthenticator, generateAdminToken } from '../../controller/pki/tokens.js';
import { parseApiPath } from '../../controller/apiserver/app.js';
import { statusFromError } from '../../controller/apiserver/status.js';
import { wantsTable } from '../../controller/apiserver/table.js';
import { age } from '../../api/index.js';
import { AlreadyExistsError, ConflictError, GoneError, InvalidError, NotFoundError } from '../../api/index.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'flotilla-pki-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('flotilla-controller init state', () => {
  it('writes a CA, a serving certificate with the SANs, keys 0600 and a kubeconfig with the token', () => {
    const dir = tmp();
    const r = initStateDir({ stateDir: dir, advertiseAddresses: ['10.200.0.5'], apiPort: 7443 });
    const p = statePaths(dir);
    for (const key of [p.caKey, p.servingKey, p.token, p.kubeconfig]) expect(statSync(key).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(readFileSync(p.caCert));
    const serving = new X509Certificate(readFileSync(p.servingCert));
    expect(ca.ca).toBe(true);
    expect(serving.verify(ca.publicKey)).toBe(true);
    expect(serving.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(serving.subjectAltName).toContain('IP Address:10.200.0.5');
    expect(serving.subjectAltName).toContain('DNS:localhost');
    const kc = parse(readFileSync(p.kubeconfig, 'utf8'));
    expect(kc.kind).toBe('Config');
    expect(kc.clusters[0].cluster.server).toBe('https://10.200.0.5:7443');
    expect(Buffer.from(kc.clusters[0].cluster['certificate-authority-data'], 'base64').toString()).toBe(readFileSync(p.caCert, 'utf8'));
    const state = loadStateDir(dir);
    expect(kc.users[0].user.token).toBe(state.adminToken);
    expect(kc['current-context']).toBe(kc.contexts[0].name);
    expect(r.config.network).toEqual({ network: '10.244.0.0/16', subnetLen: 24, backend: { type: 'vxlan', vni: 1, port: 8472 } });
  });

  it('refuses to replace an existing CA unless forced', () => {
    const dir = tmp();
    initStateDir({ stateDir: dir });
    const ca = readFileSync(statePaths(dir).caCert, 'utf8');
    expect(() => initStateDir({ stateDir: dir })).toThrow(AlreadyExistsError);
    expect(readFileSync(statePaths(dir).caCert, 'utf8')).toBe(ca);
    initStateDir({ stateDir: dir, force: true, network: { network: '10.99.0.0/16', vni: 7 } });
    expect(readFileSync(statePaths(dir).caCert, 'utf8')).not.toBe(ca);
    expect(loadStateDir(dir).config.network.backend.vni).toBe(7);
  });

  it('refuses a bad network config or advertise address before writing anything', () => {
    const dir = tmp();
    expect(() => initStateDir({ stateDir: dir, network: { network: 'not-a-cidr' } })).toThrow(/cluster CIDR|not-a-cidr/);
    expect(() => initStateDir({ stateDir: dir, network: { network: '10.1.0.0/16', subnetLen: 8 } })).toThrow(/subnetLen/);
    expect(() => initStateDir({ stateDir: dir, advertiseAddresses: ['bad address'] })).toThrow(/invalid advertise address/);
    expect(() => loadStateDir(dir)).toThrow(/missing/);
  });

  it('tells how to fix a state dir that was never initialised', () => {
    expect(() => loadStateDir(tmp())).toThrow(/run "flotilla-controller init/);
  });
});

describe('bearer tokens', () => {
  it('accepts only the exact token', () => {
    const token = generateAdminToken();
    expect(token.length).toBeGreaterThanOrEqual(40);
    const auth = new TokenAuthenticator([{ token, user: 'admin' }]);
    expect(auth.authenticate(`Bearer ${token}`)).toBe('admin');
    expect(auth.authenticate(`bearer ${token}`)).toBe('admin');
    for (const bad of [undefined, '', 'Bearer', `Bearer ${token}x`, `Bearer ${token.slice(1)}`, `Basic ${token}`, token]) {
      expect(auth.authenticate(bad)).toBeUndefined();
    }
  });
});

describe('API paths, Status mapping and Table negotiation', () => {
  it.each([
    ['namespaces/ns/pods', { plural: 'pods', namespace: 'ns' }],
    ['namespaces/ns/pods/web', { plural: 'pods', namespace: 'ns', name: 'web' }],
    ['namespaces/ns/pods/web/status', { plural: 'pods', namespace: 'ns', name: 'web', subresource: 'status' }],
    ['namespaces/ns/pods/web/binding', { plural: 'pods', namespace: 'ns', name: 'web', subresource: 'binding' }],
    ['namespaces/ns/pods/web/log', { plural: 'pods', namespace: 'ns', name: 'web', subresource: 'log' }],
    ['pods', { plural: 'pods' }],
    ['events', { plural: 'events' }],
    ['nodes/n1/status', { plural: 'nodes', name: 'n1', subresource: 'status' }],
    ['namespaces/ns', { plural: 'namespaces', name: 'ns' }],
    ['namespaces/ns/status', { plural: 'namespaces', name: 'ns', subresource: 'status' }],
    ['watch/namespaces/ns/pods', { plural: 'pods', namespace: 'ns', watchPath: true }],
  ])('parses /api/v1/%s', (path, want) => {
    const t = parseApiPath(path.split('/'))!;
    expect({ plural: t.res.plural, namespace: t.namespace, name: t.name, subresource: t.subresource, watchPath: t.watchPath || undefined }).toEqual({
      namespace: undefined,
      name: undefined,
      subresource: undefined,
      watchPath: undefined,
      ...want,
    });
  });

  it.each([['widgets'], ['pods/web'], ['namespaces/ns/pods/web/exec'], ['nodes/n1/binding'], ['namespaces/ns/pods/web/status/x'], ['po']])(
    'names nothing for /api/v1/%s',
    (path) => expect(parseApiPath(path.split('/'))).toBeUndefined(),
  );

  it.each([
    [new InvalidError('bad', [{ field: 'spec', reason: 'FieldValueRequired', message: 'Required value' }]), 422, 'Invalid'],
    [new AlreadyExistsError('x'), 409, 'AlreadyExists'],
    [new ConflictError('x'), 409, 'Conflict'],
    [new NotFoundError('x'), 404, 'NotFound'],
    [new GoneError('x'), 410, 'Expired'],
    [new Error('boom'), 500, 'InternalError'],
  ])('maps %s to a Status', (err, code, reason) => {
    const st = statusFromError(err);
    expect(st).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason });
  });

  it('recognises kubectl Table accept headers', () => {
    expect(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json')).toBe(true);
    expect(wantsTable('application/json')).toBe(false);
    expect(wantsTable(undefined)).toBe(false);
  });

  it('prints ages as kubectl does', () => {
    const now = Date.UTC(2026, 0, 2);
    const ago = (s: number) => new Date(now - s * 1000).toISOString();
    expect([5, 119, 300, 3600 * 5, 86400 * 3].map((s) => age(ago(s), now))).toEqual(['5s', '119s', '5m', '5h', '3d']);
  });
});
