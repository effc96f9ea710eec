// imagePullSecrets → registry credentials (node-agent/images/pull-secrets.ts),
// read by the agent through its config source (node-agent/config/pod-config.ts).
import { describe, expect, it } from 'vitest';
import type { Pod } from '../../api/index.js';
import type { Secret } from '../../api/kinds/secret.js';
import { PodConfig } from '../../node-agent/config/index.js';
import { pullCredentials, registryKeyHost, secretAuths } from '../../node-agent/images/index.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
function secret(name: string, type: string, data: Record<string, string>): Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, type, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) } as Secret;
}

describe('[images] pull secrets', () => {
  it('reads dockerconfigjson auths (auth or username/password) keyed by host, URL or Docker Hub alias', () => {
    const s = secret('a', 'kubernetes.io/dockerconfigjson', {
      '.dockerconfigjson': JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
          'reg.example.com:5000': { username: 'u', password: 'p' },
        },
      }),
    });
    const { lookup, problems } = pullCredentials([s]);
    expect(problems).toEqual([]);
    expect(lookup('docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass' });
    expect(lookup('reg.example.com:5000')).toEqual({ username: 'u', password: 'p' });
    expect(lookup('reg.example.com')).toBeUndefined();
    expect(registryKeyHost('http://10.0.0.1:5000/v2/')).toBe('10.0.0.1:5000');
  });

  it('reads the older dockercfg format; the first secret naming a registry wins', () => {
    const old = secret('old', 'kubernetes.io/dockercfg', { '.dockercfg': JSON.stringify({ 'quay.io': { auth: b64('q:1') } }) });
    const later = secret('later', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': JSON.stringify({ auths: { 'quay.io': { auth: b64('q:2') } } }) });
    expect(pullCredentials([old, later]).lookup('quay.io')).toEqual({ username: 'q', password: '1' });
  });

  it('a secret of another type or with bad JSON is a problem, not an exception', () => {
    expect(secretAuths(secret('o', 'Opaque', { x: 'y' }))).toEqual({ problem: 'secret "o" is of type Opaque, not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg' });
    const r = pullCredentials([secret('bad', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': '{nope' })]);
    expect(r.problems[0]!.message).toMatch(/^secret "bad": .dockerconfigjson is not JSON/);
  });

  it('the agent reads each named secret through its config source; missing ones are reported', async () => {
    const asked: string[] = [];
    const good = secret('regcred', 'kubernetes.io/dockerconfigjson', { '.dockerconfigjson': JSON.stringify({ auths: { 'r:5000': { auth: b64('a:b') } } }) });
    const cfg = new PodConfig({
      get: async (resource, ns, name) => {
        asked.push(`${resource}/${ns}/${name}`);
        return (name === 'regcred' ? good : undefined) as never;
      },
    });
    const pod = { metadata: { name: 'p', namespace: 'default', uid: 'u' }, spec: { containers: [], imagePullSecrets: [{ name: 'regcred' }, { name: 'gone' }] } } as unknown as Pod;
    const r = await cfg.pullCredentials(pod);
    expect(asked).toEqual(['secrets/default/regcred', 'secrets/default/gone']);
    expect(r!.lookup('r:5000')).toEqual({ username: 'a', password: 'b' });
    expect(r!.problems).toEqual([{ secret: 'gone', message: 'secret "gone" not found' }]);
    expect(await cfg.pullCredentials({ ...pod, spec: { containers: [] } } as Pod)).toBeUndefined();
  });
});

import { RegistryClient } from '../../node-agent/images/index.js';

describe('[images] per-pull credentials in the registry client', () => {
  /** A registry that wants a bearer token its /token gives only to a:b. */
  function fakeRegistry() {
    const seen: { url: string; auth?: string }[] = [];
    const fetch = async (url: string, init: RequestInit): Promise<Response> => {
      const auth = (init.headers as Record<string, string>).authorization;
      seen.push({ url, ...(auth ? { auth } : {}) });
      const u = new URL(url);
      if (u.pathname === '/token') {
        if (auth !== `Basic ${b64('a:b')}`) return new Response(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }), { status: 401 });
        return new Response(JSON.stringify({ token: 'tok-ab' }), { status: 200 });
      }
      if (auth !== 'Bearer tok-ab') {
        return new Response('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}', {
          status: 401,
          headers: { 'www-authenticate': `Bearer realm="http://reg:5000/token",service="reg"` },
        });
      }
      return new Response('{}', { status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    };
    return { seen, client: new RegistryClient({ fetch, insecureRegistries: ['reg:5000'], retries: 0 }) };
  }

  it('uses the credentials of the pull for the token flow, and never lends a token to a pull without them', async () => {
    const { client, seen } = fakeRegistry();
    await client.getManifest('reg:5000', 'team/app', '1.0', { username: 'a', password: 'b' });
    expect(seen.find((s) => s.url.includes('/token'))!.auth).toBe(`Basic ${b64('a:b')}`);
    // the same repository without credentials: no cached token, the token server refuses
    await expect(client.getManifest('reg:5000', 'team/app', '1.0')).rejects.toThrow(/token server http:\/\/reg:5000 answered 401/);
    await expect(client.getManifest('reg:5000', 'team/app', '1.0', { username: 'a', password: 'wrong' })).rejects.toThrow(/answered 401/);
    // the right credentials again: the cached token, no new token request
    const before = seen.filter((s) => s.url.includes('/token')).length;
    await client.getManifest('reg:5000', 'team/app', '1.0', { username: 'a', password: 'b' });
    expect(seen.filter((s) => s.url.includes('/token')).length).toBe(before);
  });
});
