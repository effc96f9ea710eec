import { describe, expect, it } from 'vitest';
import { MANIFEST_ACCEPT, MEDIA_TYPE, defaultPullPolicy, manifestKind, normalizeReference, parseReference, selectPlatformManifest, type ImageError, type ImageIndex } from '../../node-agent/images/index.js';
import { layerCompression } from '../../node-agent/images/media-types.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('[images] image references', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.35', 'docker.io/library/busybox:1.35'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['someone/app:v2', 'docker.io/someone/app:v2'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['10.200.0.1:5000/library/busybox:1.35', '10.200.0.1:5000/library/busybox:1.35'],
    ['10.200.0.1:5000/busybox', '10.200.0.1:5000/busybox:latest'],
    ['localhost/flotilla/busybox:test', 'localhost/flotilla/busybox:test'],
    ['localhost:5000/a/b/c', 'localhost:5000/a/b/c:latest'],
    ['quay.io/coreos/etcd:v3.5.0', 'quay.io/coreos/etcd:v3.5.0'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`10.200.0.1:5000/library/busybox:1.35@${D}`, `10.200.0.1:5000/library/busybox:1.35@${D}`],
  ])('normalises %s to %s', (input, want) => {
    expect(normalizeReference(input)).toBe(want);
  });

  it('splits registry, repository, tag and digest', () => {
    expect(parseReference('10.200.0.1:5000/library/busybox:1.35')).toEqual({ registry: '10.200.0.1:5000', repository: 'library/busybox', tag: '1.35' });
    expect(parseReference(`registry.local/app@${D}`)).toEqual({ registry: 'registry.local', repository: 'app', digest: D });
  });

  it.each(['', 'BusyBox', 'busybox:', 'busybox@sha256:abc', 'busybox@md5:' + 'a'.repeat(32), 'a//b', '-bad/x', 'busybox:bad tag', 'x:' + 'y'.repeat(200)])(
    'rejects %j as an InvalidImageName',
    (input) => {
      let err: ImageError | undefined;
      try {
        parseReference(input);
      } catch (e) {
        err = e as ImageError;
      }
      expect(err?.kind).toBe('InvalidReference');
      expect(err?.reason).toBe('InvalidImageName');
      expect(err?.message).toContain('invalid image reference');
    },
  );
});

describe('[images] default pull policy', () => {
  it.each([
    ['busybox', 'Always'],
    ['busybox:latest', 'Always'],
    ['busybox:1.35', 'IfNotPresent'],
    [`busybox@${D}`, 'IfNotPresent'],
    [`busybox:latest@${D}`, 'IfNotPresent'],
  ])('%s defaults to %s', (ref, want) => {
    expect(defaultPullPolicy(ref)).toBe(want);
  });
});

describe('[images] media types', () => {
  it('asks for OCI and Docker indexes and manifests', () => {
    for (const t of [MEDIA_TYPE.ociIndex, MEDIA_TYPE.ociManifest, MEDIA_TYPE.dockerList, MEDIA_TYPE.dockerManifest]) expect(MANIFEST_ACCEPT).toContain(t);
  });

  it('classifies manifests by header, then by body', () => {
    expect(manifestKind(MEDIA_TYPE.dockerList, {})).toBe('index');
    expect(manifestKind(`${MEDIA_TYPE.ociManifest}; charset=utf-8`, {})).toBe('manifest');
    expect(manifestKind('application/json', { mediaType: MEDIA_TYPE.ociIndex })).toBe('index');
    expect(manifestKind('', { schemaVersion: 2, layers: [] })).toBe('manifest');
    expect(() => manifestKind(MEDIA_TYPE.dockerSchema1Signed, {})).toThrow(/schema 1/);
    expect(() => manifestKind('text/html', '<html>')).toThrow(/unsupported manifest media type/);
  });

  const desc = (arch: string, os = 'linux', variant?: string) => ({
    mediaType: MEDIA_TYPE.ociManifest,
    digest: `sha256:${arch.padEnd(64, '0').replace(/[^a-f0-9]/g, '0')}`,
    size: 1,
    platform: { architecture: arch, os, ...(variant ? { variant } : {}) },
  });

  it('picks linux/amd64 out of an index and ignores attestations', () => {
    const index: ImageIndex = {
      schemaVersion: 2,
      manifests: [desc('arm64', 'linux', 'v8'), desc('unknown', 'unknown'), desc('amd64', 'windows'), desc('amd64'), desc('s390x')],
    };
    const got = selectPlatformManifest(index);
    expect(got.platform).toEqual({ architecture: 'amd64', os: 'linux' });
    expect(selectPlatformManifest(index, { os: 'linux', architecture: 'arm64' }).platform?.variant).toBe('v8');
  });

  it('says which platforms an index has when none matches', () => {
    expect(() => selectPlatformManifest({ schemaVersion: 2, manifests: [desc('arm64'), desc('ppc64le')] })).toThrow(
      'no manifest for platform linux/amd64 in the index (has: linux/arm64, linux/ppc64le)',
    );
  });

  it('knows which layers are gzip', () => {
    expect(layerCompression(MEDIA_TYPE.dockerLayerGzip)).toBe('gzip');
    expect(layerCompression(MEDIA_TYPE.ociLayerGzip)).toBe('gzip');
    expect(layerCompression(MEDIA_TYPE.ociLayer)).toBe('none');
    expect(() => layerCompression('application/x-foo')).toThrow(/unsupported layer media type/);
  });
});
