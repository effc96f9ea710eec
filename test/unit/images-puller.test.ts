// The puller against an in-memory registry (an injected fetch): Docker
// manifest lists and schema 2, platform choice, digest checks, pull policies.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ContentStore, ImagePuller, MEDIA_TYPE, RegistryClient, sha256Digest, type ImageError } from '../../node-agent/images/index.js';
import { tarArchive } from '../helpers/registry.js';

const base = mkdtempSync(join(tmpdir(), 'flotilla-puller-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

function fakeRegistry() {
  const blobs = new Map<string, { body: Buffer; type: string }>();
  const tags = new Map<string, string>();
  const requests: string[] = [];
  const put = (body: Buffer, type = 'application/octet-stream') => {
    const d = sha256Digest(body);
    blobs.set(d, { body, type });
    return { digest: d, size: body.length };
  };
  const image = (arch: string, text: string) => {
    const raw = tarArchive([{ path: 'arch', body: `${arch} ${text}` }]);
    const layer = { mediaType: MEDIA_TYPE.dockerLayerGzip, ...put(gzipSync(raw)) };
    const config = { mediaType: MEDIA_TYPE.dockerConfig, ...put(Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [sha256Digest(raw)] } }))) };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.dockerManifest, config, layers: [layer] }));
    return { mediaType: MEDIA_TYPE.dockerManifest, ...put(manifest, MEDIA_TYPE.dockerManifest), platform: { architecture: arch, os: 'linux' }, layer: layer.digest };
  };
  const fetch = async (url: string): Promise<Response> => {
    const u = new URL(url);
    requests.push(u.pathname);
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/(.+)$/.exec(u.pathname);
    if (!m) return new Response('{}', { status: 200 });
    const ref = m[3]!;
    const digest = ref.startsWith('sha256:') ? ref : tags.get(ref);
    const b = digest ? blobs.get(digest) : undefined;
    if (!b) return new Response(JSON.stringify({ errors: [{ code: m[2] === 'manifests' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN', message: 'unknown' }] }), { status: 404 });
    return new Response(b.body, { status: 200, headers: { 'content-type': b.type, 'docker-content-digest': digest! } });
  };
  return { blobs, tags, requests, put, image, fetch };
}

async function puller(reg: ReturnType<typeof fakeRegistry>) {
  const store = new ContentStore(join(base, `s${n++}`));
  await store.init();
  return new ImagePuller({ store, client: new RegistryClient({ fetch: reg.fetch, insecureRegistries: ['reg.test'] }) });
}

describe('[images] puller', () => {
  it('picks linux/amd64 out of a Docker manifest list and fetches only its blobs', async () => {
    const reg = fakeRegistry();
    const arm = reg.image('arm64', 'a');
    const amd = reg.image('amd64', 'b');
    const list = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.dockerList, manifests: [arm, amd].map(({ layer: _l, ...d }) => d) }));
    reg.tags.set('multi', reg.put(list, MEDIA_TYPE.dockerList).digest);
    const p = await puller(reg);
    const info = await p.ensureImage('reg.test/app:multi');
    expect(info.manifestDigest).toBe(amd.digest);
    expect(info.config.architecture).toBe('amd64');
    expect(reg.requests).not.toContain(`/v2/app/blobs/${arm.layer}`);
    expect(reg.requests).toContain(`/v2/app/blobs/${amd.layer}`);
    expect((await p.store.listImages()).map((r) => [r.name, r.target.digest, r.target.mediaType])).toEqual([['reg.test/app:multi', amd.digest, MEDIA_TYPE.dockerManifest]]);
  });

  it('refuses a manifest whose Docker-Content-Digest does not match its bytes', async () => {
    const reg = fakeRegistry();
    const img = reg.image('amd64', 'x');
    reg.tags.set('v1', img.digest);
    const orig = reg.fetch;
    const p = await puller({
      ...reg,
      fetch: async (url: string) => {
        const r = await orig(url);
        if (!url.includes('/manifests/')) return r;
        return new Response(await r.arrayBuffer(), { status: 200, headers: { 'content-type': MEDIA_TYPE.dockerManifest, 'docker-content-digest': `sha256:${'f'.repeat(64)}` } });
      },
    });
    const e = (await p.ensureImage('reg.test/app:v1').catch((x) => x)) as ImageError;
    expect(e.kind).toBe('DigestMismatch');
    expect(e.message).toMatch(/^failed to pull image "reg.test\/app:v1": manifest of reg.test\/app:v1/);
    expect(await p.store.listBlobs()).toEqual([]);
  });

  it('fails clearly when the index has no linux/amd64 image', async () => {
    const reg = fakeRegistry();
    const arm = reg.image('arm64', 'a');
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [{ mediaType: MEDIA_TYPE.ociManifest, digest: arm.digest, size: arm.size, platform: arm.platform }] }));
    reg.tags.set('armonly', reg.put(index, MEDIA_TYPE.ociIndex).digest);
    const e = (await (await puller(reg)).ensureImage('reg.test/app:armonly').catch((x) => x)) as ImageError;
    expect(e.kind).toBe('NoMatchingPlatform');
    expect(e.reason).toBe('ErrImagePull');
    expect(e.message).toContain('no manifest for platform linux/amd64 in the index (has: linux/arm64)');
  });

  it('IfNotPresent uses the stored image, Always asks the registry again, Never never does', async () => {
    const reg = fakeRegistry();
    reg.tags.set('v1', reg.image('amd64', 'x').digest);
    const p = await puller(reg);
    const never = (await p.ensureImage('reg.test/app:v1', 'Never').catch((x) => x)) as ImageError;
    expect(never.reason).toBe('ErrImageNeverPull');
    expect(reg.requests).toEqual([]);
    await p.ensureImage('reg.test/app:v1', 'IfNotPresent');
    const afterFirst = reg.requests.length;
    expect(afterFirst).toBe(3);
    await p.ensureImage('reg.test/app:v1', 'IfNotPresent');
    await p.ensureImage('reg.test/app:v1', 'Never');
    expect(reg.requests.length).toBe(afterFirst);
    await p.ensureImage('reg.test/app:v1', 'Always');
    expect(reg.requests.slice(afterFirst)).toEqual(['/v2/app/manifests/v1']);
    // A moved tag is followed by Always.
    const moved = reg.image('amd64', 'y');
    reg.tags.set('v1', moved.digest);
    expect((await p.ensureImage('reg.test/app:v1', 'Always')).manifestDigest).toBe(moved.digest);
    expect((await p.ensureImage('reg.test/app:v1', 'IfNotPresent')).manifestDigest).toBe(moved.digest);
  });

  it('finds an image stored under its tag when asked for by digest', async () => {
    const reg = fakeRegistry();
    const img = reg.image('amd64', 'x');
    reg.tags.set('v1', img.digest);
    const p = await puller(reg);
    await p.ensureImage('reg.test/app:v1');
    const before = reg.requests.length;
    expect((await p.ensureImage(`reg.test/app@${img.digest}`, 'Never')).manifestDigest).toBe(img.digest);
    expect(reg.requests.length).toBe(before);
  });
});
