// Layer unpacking as an unprivileged user: path safety, whiteouts through a
// recording fake of the native calls, diffID verification.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { entryPathParts, rootfsMount, sha256Digest, unpackLayer, type ImageError } from '../../node-agent/images/index.js';
import { tarArchive, type TarEntrySpec } from '../helpers/registry.js';

const base = mkdtempSync(join(tmpdir(), 'flotilla-unpack-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function fakeNative() {
  const calls: string[] = [];
  return {
    calls,
    mknod: (path: string, mode: number, major: number, minor: number) => void calls.push(`mknod ${path.slice(path.indexOf('/fs/') + 4)} ${mode.toString(8)} ${major}:${minor}`),
    lsetxattr: (path: string, name: string, value: Buffer) => void calls.push(`xattr ${path.slice(path.indexOf('/fs') + 3) || '/'} ${name}=${value.toString()}`),
  };
}

let n = 0;
let outer: string;
let root: string;
beforeEach(() => {
  outer = join(base, `case-${n++}`);
  root = join(outer, 'fs');
  mkdirSync(root, { recursive: true });
});

async function unpack(entries: TarEntrySpec[], opts: { gzip?: boolean; expectedDiffId?: string } = {}) {
  const raw = tarArchive(entries);
  const native = fakeNative();
  const result = await unpackLayer({
    source: Readable.from([opts.gzip ? gzipSync(raw) : raw]),
    compression: opts.gzip ? 'gzip' : 'none',
    root,
    native,
    sameOwner: false,
    ...(opts.expectedDiffId ? { expectedDiffId: opts.expectedDiffId } : {}),
  });
  return { result, native, raw };
}

async function rejected(entries: TarEntrySpec[]): Promise<ImageError> {
  const e = (await unpack(entries).then(() => undefined, (x) => x)) as ImageError | undefined;
  expect(e, 'unpack should have failed').toBeDefined();
  return e!;
}

describe('[images] archive path checks', () => {
  it('keeps ordinary relative paths and drops ./ and empty parts', () => {
    expect(entryPathParts('./etc//passwd')).toEqual(['etc', 'passwd']);
    expect(entryPathParts('bin/')).toEqual(['bin']);
    expect(entryPathParts('./')).toEqual([]);
    expect(entryPathParts('a..b/..c')).toEqual(['a..b', '..c']);
  });

  it.each([
    ['/etc/passwd', 'absolute path'],
    ['../evil', 'path traversal'],
    ['a/../../evil', 'path traversal'],
    ['a/..', 'path traversal'],
    ['x\0y', 'NUL'],
  ])('refuses %j (%s)', (p, why) => {
    expect(() => entryPathParts(p)).toThrow(why);
  });
});

describe('[images] layer unpacking', () => {
  it('unpacks files, directories, symlinks and hardlinks with their modes and computes the diffID', async () => {
    const { result, raw } = await unpack(
      [
        { path: 'bin/', type: 'Directory' },
        { path: 'bin/tool', body: '#!/bin/sh\n', mode: 0o755 },
        { path: 'bin/sh', type: 'SymbolicLink', linkpath: 'tool' },
        { path: 'bin/tool2', type: 'Link', linkpath: 'bin/tool' },
        { path: 'etc/shadow', body: 'x', mode: 0o600 },
        { path: 'tmp/', type: 'Directory', mode: 0o1777 },
        { path: 'ro/', type: 'Directory', mode: 0o555 },
        { path: 'ro/file', body: 'inside a read-only dir' },
        { path: 'empty', body: '', mode: 0o600 },
      ],
      { gzip: true },
    );
    expect(result.diffId).toBe(sha256Digest(raw));
    expect(result.entries).toBe(9);
    expect(statSync(join(root, 'empty')).size).toBe(0);
    expect(statSync(join(root, 'empty')).mode & 0o7777).toBe(0o600);
    expect(readFileSync(join(root, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\n');
    expect(statSync(join(root, 'bin/tool')).mode & 0o7777).toBe(0o755);
    expect(readlinkSync(join(root, 'bin/sh'))).toBe('tool');
    expect(statSync(join(root, 'bin/tool2')).ino).toBe(statSync(join(root, 'bin/tool')).ino);
    expect(statSync(join(root, 'etc/shadow')).mode & 0o7777).toBe(0o600);
    expect(statSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(root, 'ro')).mode & 0o7777).toBe(0o555);
    expect(readFileSync(join(root, 'ro/file'), 'utf8')).toBe('inside a read-only dir');
  });

  it('turns .wh. files into overlay whiteouts and .wh..wh..opq into the opaque xattr', async () => {
    const { native, result } = await unpack([
      { path: 'etc/', type: 'Directory' },
      { path: 'etc/.wh.removed', body: '' },
      { path: 'opaque/', type: 'Directory' },
      { path: 'opaque/.wh..wh..opq', body: '' },
      { path: 'opaque/kept', body: 'new' },
    ]);
    expect(native.calls).toEqual(['mknod etc/removed 20000 0:0', 'xattr /opaque trusted.overlay.opaque=y']);
    expect(result).toMatchObject({ whiteouts: 1, opaques: 1 });
    expect(existsSync(join(root, 'etc/.wh.removed'))).toBe(false);
    expect(readdirSync(join(root, 'opaque'))).toEqual(['kept']);
  });

  it('creates device nodes and FIFOs through the native calls', async () => {
    const { native } = await unpack([
      { path: 'dev/', type: 'Directory' },
      { path: 'dev/null', type: 'CharacterDevice', mode: 0o666, devmaj: 1, devmin: 3 },
      { path: 'dev/sda', type: 'BlockDevice', mode: 0o660, devmaj: 8, devmin: 0 },
      { path: 'run/fifo', type: 'FIFO', mode: 0o600 },
    ]);
    expect(native.calls).toEqual(['mknod dev/null 20666 1:3', 'mknod dev/sda 60660 8:0', 'mknod run/fifo 10600 0:0']);
  });

  it('refuses a layer whose uncompressed digest is not the diffID of the image config', async () => {
    const wrong = `sha256:${'1'.repeat(64)}`;
    const e = (await unpack([{ path: 'a', body: 'a' }], { expectedDiffId: wrong }).catch((x) => x)) as ImageError;
    expect(e.kind).toBe('DigestMismatch');
    expect(e.message).toContain(wrong);
  });

  it.each<[string, TarEntrySpec[], string]>([
    ['a ../ path', [{ path: '../escaped', body: 'x' }], 'path traversal'],
    ['an absolute path', [{ path: '/escaped', body: 'x' }], 'absolute path'],
    ['a file through a symlink that leaves the root', [{ path: 'up', type: 'SymbolicLink', linkpath: '../..' }, { path: 'up/escaped', body: 'x' }], 'escapes the root'],
    ['a file through an absolute symlink that climbs out', [{ path: 'up', type: 'SymbolicLink', linkpath: '/../..' }, { path: 'up/escaped', body: 'x' }], 'escapes the root'],
    ['a file through a chain of symlinks that leaves the root', [{ path: 'd/', type: 'Directory' }, { path: 'd/a', type: 'SymbolicLink', linkpath: '../b' }, { path: 'b', type: 'SymbolicLink', linkpath: '../../..' }, { path: 'd/a/escaped', body: 'x' }], 'escapes the root'],
    ['a hardlink to a path outside', [{ path: 'h', type: 'Link', linkpath: '../outside' }], 'path traversal'],
    ['a hardlink to an absolute path', [{ path: 'h', type: 'Link', linkpath: '/etc/passwd' }], 'absolute path'],
    ['a hardlink through an escaping symlink', [{ path: 'up', type: 'SymbolicLink', linkpath: '../../..' }, { path: 'h', type: 'Link', linkpath: 'up/etc/passwd' }], 'escapes the root'],
    ['a whiteout through an escaping symlink', [{ path: 'up', type: 'SymbolicLink', linkpath: '../..' }, { path: 'up/.wh.victim', body: '' }], 'escapes the root'],
  ])('rejects %s and writes nothing outside the root', async (_name, entries, why) => {
    mkdirSync(join(outer, 'victim'), { recursive: true });
    const e = await rejected(entries);
    expect(e.kind).toBe('UnsafeLayerPath');
    expect(e.message).toContain(why);
    expect(readdirSync(outer).sort()).toEqual(['fs', 'victim']);
    expect(readdirSync(join(outer, 'victim'))).toEqual([]);
    expect(existsSync(join(base, 'escaped'))).toBe(false);
  });

  it('follows symlinks that stay inside the root', async () => {
    await unpack([
      { path: 'usr/lib/', type: 'Directory' },
      { path: 'lib', type: 'SymbolicLink', linkpath: '/usr/lib' },
      { path: 'lib/libc.so', body: 'elf' },
      { path: 'rel', type: 'SymbolicLink', linkpath: 'usr/../usr/lib' },
      { path: 'rel/other.so', body: 'elf2' },
    ]);
    expect(readFileSync(join(root, 'usr/lib/libc.so'), 'utf8')).toBe('elf');
    expect(readFileSync(join(root, 'usr/lib/other.so'), 'utf8')).toBe('elf2');
    expect(lstatSync(join(root, 'lib')).isSymbolicLink()).toBe(true);
  });

  it('replaces a symlink by a file instead of writing through it', async () => {
    mkdirSync(join(outer, 'victim'));
    await unpack([
      { path: 'f', type: 'SymbolicLink', linkpath: '../victim/owned' },
      { path: 'f', body: 'safe' },
    ]);
    expect(lstatSync(join(root, 'f')).isFile()).toBe(true);
    expect(readdirSync(join(outer, 'victim'))).toEqual([]);
  });

  it('reports a corrupt gzip stream as a failed unpack', async () => {
    const gz = gzipSync(tarArchive([{ path: 'a', body: 'x'.repeat(5000) }]));
    gz[gz.length - 12] ^= 0xff;
    const e = (await unpackLayer({ source: Readable.from([gz]), compression: 'gzip', root, native: fakeNative(), sameOwner: false }).catch((x) => x)) as ImageError;
    expect(e.kind).toBe('LayerUnpackFailed');
  });
});

describe('[images] rootfs mount decision', () => {
  it('stacks image layers top first under the container upper and work dirs', () => {
    expect(rootfsMount(['/s/l1/fs', '/s/l2/fs', '/s/l3/fs'], '/r/c/upper', '/r/c/work', '/r/c/rootfs')).toEqual({
      type: 'overlay',
      source: 'overlay',
      target: '/r/c/rootfs',
      options: ['lowerdir=/s/l3/fs:/s/l2/fs:/s/l1/fs', 'upperdir=/r/c/upper', 'workdir=/r/c/work'],
    });
  });

  it('refuses directories that would break the mount options', () => {
    expect(() => rootfsMount(['/a,b'], '/u', '/w', '/t')).toThrow(/contains/);
    expect(() => rootfsMount([], '/u', '/w', '/t')).toThrow(/without layers/);
  });
});
