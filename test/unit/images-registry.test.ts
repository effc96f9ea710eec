// The registry client and the content store against fakes: scheme choice,
// token flow, back-off, error messages, verified writes and the index lock.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../api/index.js';
import { ContentStore, RegistryClient, parseWwwAuthenticate, registryMessage, sha256Digest, type ImageError } from '../../node-agent/images/index.js';

const base = mkdtempSync(join(tmpdir(), 'flotilla-store-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;
function fakeFetch(handler: Handler) {
  const calls: { url: string; auth?: string; accept?: string }[] = [];
  const fetch = async (url: string, init: RequestInit) => {
    const h = (init.headers ?? {}) as Record<string, string>;
    calls.push({ url, ...(h.authorization ? { auth: h.authorization } : {}), ...(h.accept ? { accept: h.accept } : {}) });
    return handler(url, init);
  };
  return { fetch, calls };
}
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('[images] registry client', () => {
  it('uses HTTPS unless the registry is listed as insecure', () => {
    const c = new RegistryClient({ insecureRegistries: ['10.200.0.1:5000', 'plain.local'] });
    expect(c.baseUrl('10.200.0.1:5000')).toBe('http://10.200.0.1:5000');
    expect(c.baseUrl('plain.local:8080')).toBe('http://plain.local:8080');
    expect(c.baseUrl('10.200.0.1:5001')).toBe('https://10.200.0.1:5001');
    expect(c.baseUrl('docker.io')).toBe('https://registry-1.docker.io');
  });

  it('pulls a mirrored registry from its mirror, over HTTP when the mirror is insecure', () => {
    const c = new RegistryClient({ insecureRegistries: ['10.200.0.1:5000'], mirrors: { 'docker.io': '10.200.0.1:5000' } });
    expect(c.baseUrl('docker.io')).toBe('http://10.200.0.1:5000');
    expect(c.urlFor({ registry: 'docker.io', repository: 'library/busybox', path: 'manifests/1.35' })).toBe('http://10.200.0.1:5000/v2/library/busybox/manifests/1.35');
    expect(c.baseUrl('quay.io')).toBe('https://quay.io');
  });

  it('parses Bearer challenges with quoted and bare values', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
    });
    expect(parseWwwAuthenticate('Basic realm=registry')).toEqual({ scheme: 'basic', params: { realm: 'registry' } });
  });

  it('turns distribution error bodies into one line', () => {
    expect(registryMessage(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Tag: 'x' } }] }))).toBe('MANIFEST_UNKNOWN: manifest unknown');
    expect(registryMessage(JSON.stringify({ errors: [{ code: 'DENIED', message: 'no', detail: 'quota' }, { code: 'X', message: 'y' }] }))).toBe('DENIED: no (quota); X: y');
    expect(registryMessage('<html>  bad\n gateway </html>')).toBe('<html> bad gateway </html>');
  });

  it('answers a 401 Bearer challenge with a token from the realm and retries with it', async () => {
    const f = fakeFetch((url, init) => {
      const auth = (init.headers as Record<string, string>).authorization;
      if (url.startsWith('https://auth.example/token')) return json(200, { access_token: 'T0K' });
      if (auth !== 'Bearer T0K') return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'auth' }] }, { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="reg"' });
      return new Response('{}', { status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    });
    const c = new RegistryClient({ fetch: f.fetch, credentials: () => ({ username: 'u', password: 'p' }) });
    await c.getManifest('reg.example', 'team/app', 'v1');
    await c.getManifest('reg.example', 'team/app', 'v2');
    expect(f.calls.map((x) => x.url)).toEqual([
      'https://reg.example/v2/team/app/manifests/v1',
      'https://auth.example/token?service=reg&scope=repository%3Ateam%2Fapp%3Apull',
      'https://reg.example/v2/team/app/manifests/v1',
      'https://reg.example/v2/team/app/manifests/v2',
    ]);
    expect(f.calls[1]!.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(f.calls[0]!.accept).toContain('application/vnd.oci.image.index.v1+json');
  });

  it('retries 5xx and network errors with exponential back-off, then gives up with the message', async () => {
    const clock = new FakeClock();
    const sleeps: number[] = [];
    const origSleep = clock.sleep.bind(clock);
    clock.sleep = (ms: number) => {
      sleeps.push(ms);
      const p = origSleep(ms);
      clock.advance(ms);
      return p;
    };
    let n = 0;
    const f = fakeFetch(() => {
      n++;
      if (n === 1) throw new TypeError('fetch failed', { cause: { code: 'ECONNRESET', message: 'socket hang up' } });
      return json(502, { errors: [{ code: 'UNAVAILABLE', message: 'try later' }] });
    });
    const c = new RegistryClient({ fetch: f.fetch, clock, retries: 3, backoffMs: 100 });
    const err = (await c.getManifest('r.example', 'a', 'latest').catch((e) => e)) as ImageError;
    expect(n).toBe(4);
    expect(sleeps).toEqual([100, 200, 400]);
    expect(err.kind).toBe('RegistryUnavailable');
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('r.example answered 502 Bad Gateway to GET /v2/a/manifests/latest: UNAVAILABLE: try later');
  });

  it('does not retry a 404 and names it as an unknown manifest', async () => {
    const f = fakeFetch(() => json(404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    const c = new RegistryClient({ fetch: f.fetch });
    const err = (await c.getManifest('r.example', 'a', 'nope').catch((e) => e)) as ImageError;
    expect(f.calls.length).toBe(1);
    expect(err.kind).toBe('ManifestUnknown');
    expect(err.code).toBe('NotFound');
    expect(err.message).toContain('MANIFEST_UNKNOWN: manifest unknown');
  });

  it('reports a 401 without a usable challenge as unauthorized', async () => {
    const f = fakeFetch(() => json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    const err = (await new RegistryClient({ fetch: f.fetch }).getManifest('r.example', 'a', 'x').catch((e) => e)) as ImageError;
    expect(err.kind).toBe('RegistryUnauthorized');
    expect(err.message).toContain('answered 401');
    expect(err.message).toContain('authentication required');
  });
});

describe('[images] content store', () => {
  it('lays out an OCI image layout and commits verified blobs read-only', async () => {
    const s = new ContentStore(join(base, 'a'));
    await s.init();
    expect(readdirSync(s.root).sort()).toEqual(['blobs', 'index.json', 'ingest', 'oci-layout']);
    const data = Buffer.from('hello');
    const d = sha256Digest(data);
    await s.writeBlob(d, [data.subarray(0, 2), data.subarray(2)], { size: 5 });
    expect((await s.readBlob(d)).toString()).toBe('hello');
    expect(readdirSync(s.ingestDir)).toEqual([]);
    const { statSync } = await import('node:fs');
    expect(statSync(s.blobPath(d)).mode & 0o777).toBe(0o444);
  });

  it('keeps nothing when the digest or size is wrong', async () => {
    const s = new ContentStore(join(base, 'b'));
    await s.init();
    const d = sha256Digest('right');
    const e1 = (await s.writeBlob(d, [Buffer.from('wrong')]).catch((e) => e)) as ImageError;
    expect(e1.kind).toBe('DigestMismatch');
    const e2 = (await s.writeBlob(d, [Buffer.from('righ')], { size: 5 }).catch((e) => e)) as ImageError;
    expect(e2.kind).toBe('SizeMismatch');
    expect(e2.message).toContain('truncated');
    const e3 = (await s.writeBlob(d, [Buffer.from('right and more')], { size: 5 }).catch((e) => e)) as ImageError;
    expect(e3.kind).toBe('SizeMismatch');
    expect(await s.has(d)).toBe(false);
    expect(readdirSync(s.ingestDir)).toEqual([]);
    expect(await s.listBlobs()).toEqual([]);
  });

  it('takes over an index lock left by a process that died', async () => {
    const s = new ContentStore(join(base, 'e'));
    await s.init();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(s.root, 'index.json.lock'), '999999999');
    await s.setImage('example.com/a:1', { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Digest('a'), size: 1 });
    expect((await s.listImages()).map((r) => r.name)).toEqual(['example.com/a:1']);
  });

  it('marks leased digests (a pull in progress) until every holder releases them', async () => {
    const s = new ContentStore(join(base, 'd'));
    const d = sha256Digest('x');
    const r1 = s.lease([d]);
    const r2 = s.lease([d]);
    r1();
    r1();
    expect(s.isLeased(d)).toBe(true);
    r2();
    expect(s.isLeased(d)).toBe(false);
  });

  it('records image names with the OCI ref.name annotation, safely under concurrent writers', async () => {
    const s = new ContentStore(join(base, 'c'));
    await s.init();
    const target = (i: number) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Digest(String(i)), size: i });
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.setImage(`example.com/img:${i}`, target(i))));
    const images = await s.listImages();
    expect(images.length).toBe(20);
    const idx = await s.readIndex();
    expect(idx.manifests[0]!.annotations!['org.opencontainers.image.ref.name']).toMatch(/^example.com\/img:\d+$/);
    await Promise.all([s.removeImage('example.com/img:3'), s.setImage('example.com/img:3b', target(3)), s.removeImage('example.com/img:4')]);
    expect((await s.listImages()).length).toBe(19);
    expect(readdirSync(s.root).filter((f) => f.includes('lock') || f.startsWith('.index'))).toEqual([]);
  });
});
