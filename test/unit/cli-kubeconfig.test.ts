import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultKubeconfigPaths, loadKubeconfig, mergeKubeconfigs, parseKubeconfig, resolveConnection } from '../../cli/kubeconfig.js';
import { CliError } from '../../cli/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'flotctl-kc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s).toString('base64');

const KC = `apiVersion: v1
kind: Config
clusters:
- name: flotilla
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: ${b64('CA PEM')}
- name: other
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority: ca.crt
users:
- name: admin
  user:
    token: abc.def
- name: certuser
  user:
    client-certificate-data: ${b64('CERT')}
    client-key-data: ${b64('KEY')}
contexts:
- name: admin@flotilla
  context: { cluster: flotilla, user: admin, namespace: team }
- name: cert@other
  context: { cluster: other, user: certuser }
current-context: admin@flotilla
`;

describe('kubeconfig', () => {
  it('reads server, CA data, token and namespace from the current context', () => {
    const c = resolveConnection(parseKubeconfig(KC, 'kc', dir), {});
    expect(c).toMatchObject({ server: 'https://127.0.0.1:6443', ca: 'CA PEM', token: 'abc.def', namespace: 'team', insecureSkipTlsVerify: false });
  });

  it('--context picks another context; CA files are relative to the kubeconfig', () => {
    writeFileSync(join(dir, 'ca.crt'), 'FILE CA');
    const c = resolveConnection(parseKubeconfig(KC, 'kc', dir), { context: 'cert@other' });
    expect(c).toMatchObject({ server: 'https://10.0.0.1:6443', ca: 'FILE CA', cert: 'CERT', key: 'KEY', namespace: 'default' });
    expect(c.token).toBeUndefined();
  });

  it('--server, --token and -n override the file', () => {
    const c = resolveConnection(parseKubeconfig(KC, 'kc', dir), { server: 'https://127.0.0.2:7000', token: 't', namespace: 'x' });
    expect(c).toMatchObject({ server: 'https://127.0.0.2:7000', token: 't', namespace: 'x' });
  });

  it('an unknown --context is an error', () => {
    expect(() => resolveConnection(parseKubeconfig(KC, 'kc', dir), { context: 'nope' })).toThrow('context was not found for specified context: nope');
  });

  it('no kubeconfig and no --server says how to get one', () => {
    expect(() => resolveConnection(mergeKubeconfigs([]), {})).toThrow(CliError);
  });

  it('$KUBECONFIG is a path list, else ~/.flotilla/config', () => {
    expect(defaultKubeconfigPaths({ KUBECONFIG: '/a:/b' }, '/home/u')).toEqual(['/a', '/b']);
    expect(defaultKubeconfigPaths({}, '/home/u')).toEqual(['/home/u/.flotilla/config']);
  });

  it('merged files: the first to define a name or the current context wins', () => {
    const a = parseKubeconfig('clusters: [{name: c, cluster: {server: "https://a"}}]\n', 'a', dir);
    const b = parseKubeconfig('clusters: [{name: c, cluster: {server: "https://b"}}]\ncontexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n', 'b', dir);
    expect(resolveConnection(mergeKubeconfigs([a, b]), {}).server).toBe('https://a');
  });

  it('a missing file named by --kubeconfig is an error, a missing default is not', () => {
    expect(() => loadKubeconfig({ kubeconfig: join(dir, 'missing') })).toThrow(/error loading config file ".*missing": no such file or directory/);
    expect(loadKubeconfig({}, { KUBECONFIG: join(dir, 'missing') }).clusters).toEqual([]);
  });

  it('malformed YAML names the file', () => {
    expect(() => parseKubeconfig('clusters: [', 'bad.kubeconfig', dir)).toThrow(/error loading config file "bad.kubeconfig"/);
  });
});
