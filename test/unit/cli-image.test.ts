import { describe, expect, it } from 'vitest';
import { familiarImageName, humanSize, imageRows, shortDigest, splitImageName } from '../../cli/commands/image.js';

const D = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('flotctl image: how names, digests and sizes print', () => {
  it.each([
    ['docker.io/library/busybox:1.35', 'busybox:1.35'],
    ['docker.io/me/app:1', 'me/app:1'],
    ['10.200.0.1:5000/library/busybox:1.35', '10.200.0.1:5000/library/busybox:1.35'],
    ['localhost/flotilla/busybox:test', 'localhost/flotilla/busybox:test'],
  ])('familiar name of %s is %s', (full, short) => expect(familiarImageName(full)).toBe(short));

  it('splits REPOSITORY and TAG, a registry port is not a tag, a digest-only name has no tag', () => {
    expect(splitImageName('docker.io/library/busybox:1.35')).toEqual({ repository: 'busybox', tag: '1.35' });
    expect(splitImageName('10.200.0.1:5000/library/busybox:1.35')).toEqual({ repository: '10.200.0.1:5000/library/busybox', tag: '1.35' });
    expect(splitImageName(`10.200.0.1:5000/app@${D}`)).toEqual({ repository: '10.200.0.1:5000/app', tag: '<none>' });
  });

  it('digests shorten to 12 hex digits; sizes in SI units as docker prints them', () => {
    expect(shortDigest(D)).toBe('sha256:0123456789ab');
    expect(shortDigest('weird')).toBe('weird');
    expect([512, 1_500, 45_600, 2_300_000, 1_234_567_890].map(humanSize)).toEqual(['512B', '1.50kB', '45.6kB', '2.30MB', '1.23GB']);
  });

  it('rows, with the node in front when several nodes are listed', () => {
    const imgs = [{ name: 'docker.io/library/busybox:1.35', digest: D, size: 2_300_000 }];
    expect(imageRows(imgs)).toEqual([['busybox', '1.35', 'sha256:0123456789ab', '2.30MB']]);
    expect(imageRows(imgs, 'h1')).toEqual([['h1', 'busybox', '1.35', 'sha256:0123456789ab', '2.30MB']]);
  });
});
