// [images] layers unpacked for real (as root: owners, device nodes, xattrs) and
// container rootfs mounted as overlayfs; import/export of OCI layout tars; GC.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lgetxattr } from '../../native/index.js';
import { ImageService, loadNativeOps, shellNativeOps, type ImageError, type NativeOps } from '../../node-agent/images/index.js';
import { buildLayout, buildTestImage, tarArchive, type TestImageSummary } from '../helpers/registry.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const REF = 'localhost/flotilla/busybox:test';

function mountedUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((t) => t.startsWith(dir));
}

function getxattr(path: string, name: string): string | undefined {
  return lgetxattr(path, name)?.toString();
}

describe('[images] snapshots, overlay rootfs, import/export and GC', () => {
  let work: string;
  let image: TestImageSummary;
  let native: NativeOps & { source: string };
  const services: ImageService[] = [];

  const newService = async (ops: NativeOps = native) => {
    const svc = await new ImageService({ stateDir: mkdtempSync(join(work, 'state-')), native: ops }).init();
    services.push(svc);
    return svc;
  };

  beforeAll(async () => {
    requireRoot('images-rootfs');
    requireBinaries('images-rootfs', 'busybox', 'mount', 'umount', 'python3', 'chroot');
    work = mkdtempSync(join(tmpdir(), 'flotilla-images-rootfs-'));
    image = buildTestImage(join(work, 'image'), { name: REF, tar: join(work, 'image.tar') });
    native = await loadNativeOps();
  });

  afterAll(async () => {
    for (const svc of services) {
      for (const r of await svc.snapshotter.listRootfs().catch(() => [])) await svc.removeRootfs(r.containerId).catch(() => undefined);
    }
    if (work) {
      for (const m of mountedUnder(work).reverse()) execFileSync('umount', ['-l', m]);
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('imports the test image tar and mounts a rootfs where layer 2 deleted, added and made a directory opaque', async () => {
    expect(native.source, 'the native addon is built (npm run build)').toBe('native');
    const svc = await newService();
    expect(await svc.importImage(join(work, 'image.tar'))).toEqual([REF]);
    const r = await svc.prepareRootfs('c1', REF);
    expect(r.mount.type).toBe('overlay');
    expect(r.config).toEqual({
      entrypoint: ['/bin/sh', '-c'],
      cmd: ['echo flotilla test image; exec sleep 3600'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FLOTILLA_TEST_IMAGE=1'],
      workingDir: '/',
      user: '',
    });
    const fs = r.rootfs;
    expect(mountedUnder(work)).toContain(fs);
    expect(existsSync(join(fs, 'etc/removed-by-layer2'))).toBe(false);
    expect(readFileSync(join(fs, 'etc/added-by-layer2'), 'utf8')).toBe('added by layer 2\n');
    expect(readFileSync(join(fs, 'etc/flotilla-release'), 'utf8')).toBe('flotilla test image\n');
    expect(readdirSync(join(fs, 'opaque'))).toEqual(['from-layer2']);
    expect(readlinkSync(join(fs, 'bin/sh'))).toBe('busybox');
    const owned = statSync(join(fs, 'home/user/owned-by-1000'));
    expect([owned.uid, owned.gid, owned.mode & 0o7777]).toEqual([1000, 1000, 0o640]);
    expect(statSync(join(fs, 'tmp')).mode & 0o7777).toBe(0o1777);
    // The busybox of the image runs inside the rootfs.
    expect(execFileSync('chroot', [fs, '/bin/sh', '-c', 'cat /etc/added-by-layer2; ls /opaque; echo $((6*7))'], { encoding: 'utf8' })).toBe('added by layer 2\nfrom-layer2\n42\n');
  });

  it('keeps overlay whiteouts and the opaque xattr in the layer snapshot and unpacks each layer once', async () => {
    const svc = await newService();
    await svc.importImage(join(work, 'image.tar'));
    // Two containers starting at once share one unpack per layer.
    await Promise.all([svc.prepareRootfs('a', REF), svc.prepareRootfs('a2', REF)]);
    expect(readdirSync(svc.snapshotter.snapshotsDir).filter((d) => d.startsWith('tmp-'))).toEqual([]);
    const l1 = svc.snapshotter.snapshotDir(image.layers[0]!.diffId);
    const l2 = svc.snapshotter.snapshotDir(image.layers[1]!.diffId);
    const wh = lstatSync(join(l2, 'etc/removed-by-layer2'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(getxattr(join(l2, 'opaque'), 'trusted.overlay.opaque')).toBe('y');
    expect(statSync(join(l1, 'bin/busybox-hardlink')).ino).toBe(statSync(join(l1, 'bin/busybox')).ino);
    const inode = statSync(l1).ino;
    await svc.prepareRootfs('b', REF);
    expect(statSync(l1).ino).toBe(inode);
    expect((await svc.snapshotter.listSnapshots()).sort()).toEqual(image.layers.map((l) => l.diffId).sort());
  });

  it('the child-process fallback (no addon) unpacks and mounts the same rootfs', async () => {
    const svc = await newService(shellNativeOps);
    await svc.importImage(join(work, 'image.tar'));
    const r = await svc.prepareRootfs('shell', REF);
    expect(existsSync(join(r.rootfs, 'etc/removed-by-layer2'))).toBe(false);
    expect(readdirSync(join(r.rootfs, 'opaque'))).toEqual(['from-layer2']);
    expect(getxattr(join(svc.snapshotter.snapshotDir(image.layers[1]!.diffId), 'opaque'), 'trusted.overlay.opaque')).toBe('y');
    await svc.removeRootfs('shell');
    expect(mountedUnder(svc.snapshotter.rootfsDir)).toEqual([]);
  });

  it('gives each container its own writable layer and removes it with the container', async () => {
    const svc = await newService();
    await svc.importImage(join(work, 'image.tar'));
    const a = await svc.prepareRootfs('writer', REF);
    const b = await svc.prepareRootfs('reader', REF);
    writeFileSync(join(a.rootfs, 'etc/flotilla-release'), 'changed\n');
    rmSync(join(a.rootfs, 'www/index.html'));
    expect(readFileSync(join(b.rootfs, 'etc/flotilla-release'), 'utf8')).toBe('flotilla test image\n');
    expect(existsSync(join(b.rootfs, 'www/index.html'))).toBe(true);
    expect(readFileSync(join(svc.snapshotter.snapshotDir(image.layers[0]!.diffId), 'etc/flotilla-release'), 'utf8')).toBe('flotilla test image\n');
    // Preparing again is idempotent: the same mount, the changes still there.
    const again = await svc.prepareRootfs('writer', REF);
    expect(readFileSync(join(again.rootfs, 'etc/flotilla-release'), 'utf8')).toBe('changed\n');
    await svc.removeRootfs('writer');
    expect(mountedUnder(svc.snapshotter.rootfsDir)).toEqual([b.rootfs]);
    expect(existsSync(join(svc.snapshotter.rootfsDir, 'writer'))).toBe(false);
    await svc.removeRootfs('writer');
    await svc.removeRootfs('reader');
    expect(mountedUnder(svc.snapshotter.rootfsDir)).toEqual([]);
  });

  it('a failed mount is a CreateContainerError and leaves no container directory behind', async () => {
    const svc = await newService({
      ...native,
      mount: () => {
        throw new Error('mount: permission denied');
      },
    });
    await svc.importImage(join(work, 'image.tar'));
    const err = (await svc.prepareRootfs('nomount', REF).catch((e) => e)) as ImageError;
    expect(err.kind).toBe('RootfsFailed');
    expect(err.reason).toBe('CreateContainerError');
    expect(err.message).toContain('mount: permission denied');
    expect(readdirSync(svc.snapshotter.rootfsDir)).toEqual([]);
  });

  it('refuses a rootfs for an image that is not in the store', async () => {
    const svc = await newService();
    const err = (await svc.prepareRootfs('x', 'localhost/nope:1').catch((e) => e)) as ImageError;
    expect(err.kind).toBe('ImageNotPresent');
  });

  it('refuses an image with a malicious layer, keeping no snapshot and writing nothing outside', async () => {
    const svc = await newService();
    const evilDir = join(work, 'evil');
    buildLayout(evilDir, 'localhost/evil:1', [
      tarArchive([
        { path: 'ok', body: 'fine' },
        { path: 'up', type: 'SymbolicLink', linkpath: '../../../../../../../../../..' },
        { path: `up${work}/pwned`, body: 'owned' },
      ]),
    ]);
    execFileSync('tar', ['-C', evilDir, '-cf', join(work, 'evil.tar'), 'oci-layout', 'index.json', 'blobs']);
    expect(await svc.importImage(join(work, 'evil.tar'))).toEqual(['localhost/evil:1']);
    const err = (await svc.prepareRootfs('evil', 'localhost/evil:1').catch((e) => e)) as ImageError;
    expect(err.kind).toBe('UnsafeLayerPath');
    expect(err.message).toContain('escapes the root');
    expect(existsSync(join(work, 'pwned'))).toBe(false);
    expect(await svc.snapshotter.listSnapshots()).toEqual([]);
    expect(readdirSync(svc.snapshotter.snapshotsDir)).toEqual([]);
    expect(mountedUnder(svc.snapshotter.rootfsDir)).toEqual([]);
  });

  it('exports an image as an OCI layout tar that imports elsewhere with the same digests', async () => {
    const a = await newService();
    await a.importImage(join(work, 'image.tar'));
    const out = join(work, 'exported.tar');
    await a.exportImage(REF, out);
    const names = execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toEqual(expect.arrayContaining(['oci-layout', 'index.json', `blobs/sha256/${image.manifestDigest.slice(7)}`]));
    const b = await newService();
    expect(await b.importImage(out)).toEqual([REF]);
    const info = await b.getImage(REF);
    expect(info?.manifestDigest).toBe(image.manifestDigest);
    expect((await b.store.listBlobs()).sort()).toEqual((await a.store.listBlobs()).sort());
  });

  it('refuses archives that are not clean OCI layouts and records nothing', async () => {
    const svc = await newService();
    const bad = join(work, 'bad.tar');
    writeFileSync(bad, tarArchive([{ path: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' }, { path: '../escape', body: 'x' }]));
    let err = (await svc.importImage(bad).catch((e) => e)) as ImageError;
    expect(err.kind).toBe('InvalidArchive');
    expect(existsSync(join(svc.store.ingestDir, '..', '..', 'escape'))).toBe(false);

    // A layout whose index names a manifest that is not there.
    const broken = join(work, 'broken');
    buildLayout(broken, 'localhost/broken:1', [tarArchive([{ path: 'a', body: 'a' }])]);
    const manifest = readdirSync(join(broken, 'blobs/sha256')).find((f) => readFileSync(join(broken, 'blobs/sha256', f)).includes('schemaVersion'))!;
    rmSync(join(broken, 'blobs/sha256', manifest));
    execFileSync('tar', ['-C', broken, '-cf', join(work, 'broken.tar'), 'oci-layout', 'index.json', 'blobs']);
    err = (await svc.importImage(join(work, 'broken.tar')).catch((e) => e)) as ImageError;
    expect(err.kind).toBe('InvalidArchive');
    expect(err.message).toContain('is missing');
    expect(await svc.listImages()).toEqual([]);
    expect(readdirSync(svc.store.ingestDir)).toEqual([]);
  });

  it('GC above the threshold removes unused images with their blobs and snapshots and keeps what containers use', async () => {
    const svc = await newService();
    await svc.importImage(join(work, 'image.tar'));
    const otherDir = join(work, 'other');
    const other = buildLayout(otherDir, 'localhost/other:1', [tarArchive([{ path: 'hello', body: 'other image' }])]);
    execFileSync('tar', ['-C', otherDir, '-cf', join(work, 'other.tar'), 'oci-layout', 'index.json', 'blobs']);
    await svc.importImage(join(work, 'other.tar'));
    await svc.prepareRootfs('busy', REF);
    await svc.prepareRootfs('tmp', 'localhost/other:1');
    await svc.removeRootfs('tmp');
    expect((await svc.store.listBlobs()).length).toBe(7);

    // Below the threshold nothing goes.
    const calm = await svc.gc({ highThresholdPercent: 85, lowThresholdPercent: 80, usage: async () => ({ usedBytes: 10, totalBytes: 100 }) });
    expect(calm.imagesRemoved).toEqual([]);
    expect((await svc.store.listBlobs()).length).toBe(7);

    const full = await svc.gc({ highThresholdPercent: 85, lowThresholdPercent: 80, usage: async () => ({ usedBytes: 99, totalBytes: 100 }) });
    expect(full.imagesRemoved).toEqual(['localhost/other:1']);
    expect(full.blobsRemoved.sort()).toEqual([other.manifestDigest, other.configDigest, other.layers[0]!.digest].sort());
    expect(full.snapshotsRemoved).toEqual([other.layers[0]!.diffId]);
    expect((await svc.listImages()).map((r) => r.name)).toEqual([REF]);
    expect(readFileSync(join((await svc.snapshotter.getRootfs('busy'))!.rootfs, 'etc/added-by-layer2'), 'utf8')).toBe('added by layer 2\n');

    // Once its container is gone, the busybox image goes too.
    await svc.removeRootfs('busy');
    const last = await svc.gc({ highThresholdPercent: 85, lowThresholdPercent: 80, usage: async () => ({ usedBytes: 99, totalBytes: 100 }) });
    expect(last.imagesRemoved).toEqual([REF]);
    expect(await svc.store.listBlobs()).toEqual([]);
    expect(await svc.snapshotter.listSnapshots()).toEqual([]);
  });
});
