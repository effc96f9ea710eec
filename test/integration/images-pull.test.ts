// [images] pulling the busybox test image from a real local docker-registry,
// through a proxy that counts requests, demands tokens or injects faults.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageService, RegistryClient, openLayout, pushImage, type ImageError, type PullProgress } from '../../node-agent/images/index.js';
import { buildTestImage, startRegistry, startRegistryProxy, type LocalRegistry, type RegistryProxy, type TestImageSummary, type Fault } from '../helpers/registry.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const noMount = {
  mount: () => {
    throw new Error('no mounts in this suite');
  },
  umount: () => undefined,
  mknod: () => undefined,
  lsetxattr: () => undefined,
};

describe('[images] registry pulls', () => {
  let work: string;
  let registry: LocalRegistry;
  let image: TestImageSummary;
  let proxy: RegistryProxy;
  let authProxy: RegistryProxy;
  let faultProxy: RegistryProxy;
  let fault: (req: { method: string; path: string }) => Fault = () => undefined;
  const services: ImageService[] = [];

  const newService = async (opts: { credentials?: { username: string; password: string } } = {}) => {
    const svc = new ImageService({
      stateDir: mkdtempSync(join(work, 'state-')),
      native: noMount,
      registry: {
        insecureRegistries: [proxy.host, authProxy.host, faultProxy.host, registry.host],
        backoffMs: 10,
        ...(opts.credentials ? { credentials: () => opts.credentials } : {}),
      },
    });
    services.push(svc);
    return svc.init();
  };
  const blobFiles = (svc: ImageService) => readdirSync(svc.store.blobDir).sort();
  const ingestFiles = (svc: ImageService) => readdirSync(svc.store.ingestDir);

  beforeAll(async () => {
    requireRoot('images-pull');
    requireBinaries('images-pull', 'docker-registry');
    work = mkdtempSync(join(tmpdir(), 'flotilla-images-pull-'));
    image = buildTestImage(join(work, 'image'));
    registry = await startRegistry();
    const client = new RegistryClient({ insecureRegistries: [registry.host] });
    await pushImage(client, openLayout(image.dir), undefined, `${registry.host}/library/busybox:1.35`);
    proxy = await startRegistryProxy(registry.host);
    authProxy = await startRegistryProxy(registry.host, { bearer: { username: 'flot', password: 'secret' } });
    faultProxy = await startRegistryProxy(registry.host, { fault: (r) => fault(r) });
  });

  afterAll(async () => {
    await proxy?.close();
    await authProxy?.close();
    await faultProxy?.close();
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('pulls the test image with its manifest, config and both layers verified into the content store', async () => {
    const svc = await newService();
    const progress: PullProgress[] = [];
    const info = await svc.ensureImage(`${proxy.host}/library/busybox:1.35`, 'IfNotPresent', (p) => progress.push(p));
    expect(info.manifestDigest).toBe(image.manifestDigest);
    expect(info.diffIds).toEqual(image.layers.map((l) => l.diffId));
    expect(info.config.config?.Entrypoint).toEqual(['/bin/sh', '-c']);
    expect(blobFiles(svc)).toEqual([image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)].map((d) => d.slice(7)).sort());
    expect(ingestFiles(svc)).toEqual([]);
    const records = await svc.listImages();
    expect(records.map((r) => [r.name, r.target.digest])).toEqual([[`${proxy.host}/library/busybox:1.35`, image.manifestDigest]]);
    const last = progress[progress.length - 1]!;
    expect(last).toMatchObject({ done: true, layersDone: 2, layersTotal: 2 });
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.bytesTransferred).toBe(last.bytesTotal);
  });

  it('a second pull of a cached image transfers no blobs, with Always or IfNotPresent', async () => {
    const svc = await newService();
    const ref = `${proxy.host}/library/busybox:1.35`;
    await svc.ensureImage(ref, 'IfNotPresent');
    proxy.reset();
    await svc.ensureImage(ref, 'IfNotPresent');
    expect(proxy.requests).toEqual([]);
    const progress: PullProgress[] = [];
    await svc.ensureImage(ref, 'Always', (p) => progress.push(p));
    expect(proxy.blobGets()).toEqual([]);
    expect(proxy.requests.map((r) => r.path)).toEqual([`/v2/library/busybox/manifests/1.35`]);
    expect(progress[progress.length - 1]!.bytesTransferred).toBe(0);
  });

  it('pulls by digest and refuses a digest reference whose manifest differs', async () => {
    const svc = await newService();
    const info = await svc.ensureImage(`${proxy.host}/library/busybox@${image.manifestDigest}`, 'IfNotPresent');
    expect(info.manifestDigest).toBe(image.manifestDigest);
    const wrong = `sha256:${'0'.repeat(64)}`;
    const err = (await svc.ensureImage(`${proxy.host}/library/busybox@${wrong}`, 'Always').catch((e) => e)) as ImageError;
    expect(err.kind).toBe('ManifestUnknown');
    expect(err.reason).toBe('ErrImagePull');
  });

  it('concurrent pulls of the same image share one transfer', async () => {
    const svc = await newService();
    proxy.reset();
    const ref = `${proxy.host}/library/busybox:1.35`;
    const all = await Promise.all([svc.pull(ref), svc.pull(ref), svc.ensureImage(ref, 'Always'), svc.pull(ref)]);
    expect(new Set(all.map((i) => i.manifestDigest)).size).toBe(1);
    expect(proxy.blobGets().length).toBe(3); // config + 2 layers, once each
  });

  it('Never refuses an image that is not present with ErrImageNeverPull and contacts no registry', async () => {
    const svc = await newService();
    proxy.reset();
    const err = (await svc.ensureImage(`${proxy.host}/library/busybox:1.35`, 'Never').catch((e) => e)) as ImageError;
    expect(err.reason).toBe('ErrImageNeverPull');
    expect(err.message).toContain('is not present with pull policy of Never');
    expect(proxy.requests).toEqual([]);
  });

  it('an unknown image fails with the registry\'s MANIFEST_UNKNOWN message and stores nothing', async () => {
    const svc = await newService();
    const err = (await svc.ensureImage(`${proxy.host}/library/nope:1.0`, 'IfNotPresent').catch((e) => e)) as ImageError;
    expect(err.kind).toBe('ManifestUnknown');
    expect(err.reason).toBe('ErrImagePull');
    expect(err.message).toMatch(/^failed to pull image ".*\/library\/nope:1.0": .* answered 404 Not Found .*: (MANIFEST_UNKNOWN|NAME_UNKNOWN): /);
    expect(blobFiles(svc)).toEqual([]);
    expect(await svc.listImages()).toEqual([]);
  });

  it('follows the Bearer token flow with credentials and reuses the token', async () => {
    const svc = await newService({ credentials: { username: 'flot', password: 'secret' } });
    const info = await svc.ensureImage(`${authProxy.host}/library/busybox:1.35`, 'Always');
    expect(info.manifestDigest).toBe(image.manifestDigest);
    expect(authProxy.tokensIssued).toBe(1);
    expect(authProxy.requests.filter((r) => r.status === 401).length).toBe(1);
  });

  it('wrong credentials fail as unauthorized with the token server\'s answer, nothing stored', async () => {
    const svc = await newService({ credentials: { username: 'flot', password: 'wrong' } });
    const err = (await svc.ensureImage(`${authProxy.host}/library/busybox:1.35`, 'Always').catch((e) => e)) as ImageError;
    expect(err.kind).toBe('RegistryUnauthorized');
    expect(err.message).toContain('answered 401');
    expect(err.message).toContain('incorrect username or password');
    expect(blobFiles(svc)).toEqual([]);
  });

  it('a 500 is retried with back-off and then reported with the registry\'s message', async () => {
    const svc = await newService();
    let calls = 0;
    fault = (r) => {
      if (r.path.includes('/manifests/')) {
        calls++;
        return { status: 500, body: JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'storage backend exploded' }] }) };
      }
      return undefined;
    };
    const err = (await svc.ensureImage(`${faultProxy.host}/library/busybox:1.35`, 'Always').catch((e) => e)) as ImageError;
    expect(calls).toBe(4); // first try + 3 retries
    expect(err.kind).toBe('RegistryUnavailable');
    expect(err.message).toContain('answered 500');
    expect(err.message).toContain('UNKNOWN: storage backend exploded');

    // A 500 that goes away is survived by the retries.
    calls = 0;
    fault = (r) => (r.path.includes('/manifests/') && ++calls <= 2 ? { status: 503, body: 'busy' } : undefined);
    const info = await svc.ensureImage(`${faultProxy.host}/library/busybox:1.35`, 'Always');
    expect(info.manifestDigest).toBe(image.manifestDigest);
    fault = () => undefined;
  });

  it('speaks HTTPS to a registry that is not listed as insecure', async () => {
    const svc = new ImageService({ stateDir: mkdtempSync(join(work, 'state-')), native: noMount, registry: { backoffMs: 10 } });
    await svc.init();
    proxy.reset();
    const err = (await svc.ensureImage(`${proxy.host}/library/busybox:1.35`, 'IfNotPresent').catch((e) => e)) as ImageError;
    expect(err.kind).toBe('RegistryUnavailable');
    expect(err.message).toContain(`GET https://${proxy.host}/v2/library/busybox/manifests/1.35`);
    expect(proxy.requests.filter((r) => r.status === 200)).toEqual([]);
  });

  it('a 4xx other than 401 is not retried', async () => {
    const svc = await newService();
    let calls = 0;
    fault = (r) => (r.path.includes('/manifests/') ? (calls++, { status: 403, body: JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }) }) : undefined);
    const err = (await svc.ensureImage(`${faultProxy.host}/library/busybox:1.35`, 'Always').catch((e) => e)) as ImageError;
    fault = () => undefined;
    expect(calls).toBe(1);
    expect(err.kind).toBe('RegistryDenied');
    expect(err.message).toContain('DENIED: requested access to the resource is denied');
  });

  it('a corrupt layer is rejected as a digest mismatch and nothing of it is kept', async () => {
    const svc = await newService();
    const big = image.layers[0]!.digest;
    fault = (r) => (r.path.endsWith(`/blobs/${big}`) ? { corrupt: true } : undefined);
    const err = (await svc.ensureImage(`${faultProxy.host}/library/busybox:1.35`, 'Always').catch((e) => e)) as ImageError;
    fault = () => undefined;
    expect(err.kind).toBe('DigestMismatch');
    expect(err.reason).toBe('ErrImagePull');
    expect(err.message).toContain(`layer ${big}`);
    expect(blobFiles(svc)).not.toContain(big.slice(7));
    expect(ingestFiles(svc)).toEqual([]);
    expect(await svc.listImages()).toEqual([]);
    // The store stays usable: a clean pull afterwards works.
    const info = await svc.ensureImage(`${faultProxy.host}/library/busybox:1.35`, 'Always');
    expect(info.manifestDigest).toBe(image.manifestDigest);
  });

  it('a truncated layer fails after retries and nothing of it is kept', async () => {
    const svc = await newService();
    const big = image.layers[0]!.digest;
    let gets = 0;
    fault = (r) => (r.path.endsWith(`/blobs/${big}`) ? (gets++, { truncate: 1000 }) : undefined);
    const err = (await svc.ensureImage(`${faultProxy.host}/library/busybox:1.35`, 'Always').catch((e) => e)) as ImageError;
    fault = () => undefined;
    expect(gets).toBe(3); // the body broke off: three attempts per blob
    expect(['RegistryUnavailable', 'SizeMismatch']).toContain(err.kind);
    expect(err.message).toContain(big);
    expect(blobFiles(svc)).not.toContain(big.slice(7));
    expect(ingestFiles(svc)).toEqual([]);
    expect(await svc.listImages()).toEqual([]);
  });
});
