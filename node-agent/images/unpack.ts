// Unpacking one layer (a tar, maybe gzip-compressed) into a snapshot directory.
// Every entry is checked before anything is written: absolute paths and `..`
// components are refused, parent directories are resolved inside the root
// (following symlinks the way the container would, and refusing any that
// leads out), hardlink targets must resolve inside the root too. OCI whiteouts
// become overlay whiteouts: `.wh.NAME` → a 0/0 character device NAME,
// `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory. The sha256 of
// the uncompressed stream (the diffID) is computed as it goes and checked
// against the image config. Filesystem work is synchronous per entry, which
// keeps entries in archive order without a queue.
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { DigestMismatchError, ImageError, UnsafeLayerPathError } from './errors.js';
import type { LayerCompression } from './media-types.js';
import { S_IFBLK, S_IFCHR, S_IFIFO, type NativeOps } from './native-ops.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

const MAX_SYMLINKS = 40;

/**
 * The components of an archive path, or a typed error when the path is
 * absolute, climbs with `..`, or holds a NUL. `./` and empty components are
 * dropped; the root itself is [].
 */
export function entryPathParts(path: string): string[] {
  if (path.includes('\0')) throw new UnsafeLayerPathError(path, 'NUL in path');
  if (path.startsWith('/')) throw new UnsafeLayerPathError(path, 'absolute path');
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new UnsafeLayerPathError(path, 'path traversal (..)');
  return parts;
}

/**
 * Resolves directory components under `root` as the container would see them:
 * symlinks are followed with `root` as `/`; climbing above `root` is an escape.
 * Missing directories are created when `create` is set. Returns the real path.
 */
export function resolveDirInRoot(root: string, parts: string[], entry: string, create: boolean): string {
  const resolved: string[] = [];
  const pending = [...parts];
  let links = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (resolved.length === 0) throw new UnsafeLayerPathError(entry, 'goes through a symlink that escapes the root');
      resolved.pop();
      continue;
    }
    const p = join(root, ...resolved, c);
    let st;
    try {
      st = lstatSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      if (!create) throw new ImageError('LayerUnpackFailed', `layer entry ${JSON.stringify(entry)}: ${[...resolved, c].join('/')} does not exist`);
      mkdirSync(p, { mode: 0o755 });
      resolved.push(c);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new UnsafeLayerPathError(entry, 'too many levels of symlinks');
      const target = readlinkSync(p);
      if (target.startsWith('/')) resolved.length = 0;
      pending.unshift(...target.split('/'));
      continue;
    }
    if (!st.isDirectory()) throw new ImageError('LayerUnpackFailed', `layer entry ${JSON.stringify(entry)}: ${[...resolved, c].join('/')} is not a directory`);
    resolved.push(c);
  }
  return join(root, ...resolved);
}

export interface UnpackOptions {
  /** The layer as stored (compressed as `compression` says). */
  source: Readable;
  compression: LayerCompression;
  /** An existing, empty directory. */
  root: string;
  native: Pick<NativeOps, 'mknod' | 'lsetxattr'>;
  /** The diffID from the image config; a different uncompressed digest is an error. */
  expectedDiffId?: string;
  /** Keep uid/gid of entries (default: when running as root). */
  sameOwner?: boolean;
  /** What the layer is, for messages. */
  what?: string;
}

export interface UnpackResult {
  diffId: string;
  entries: number;
  whiteouts: number;
  opaques: number;
  bytes: number;
}

/** Removes whatever is at `p` (not following symlinks). */
function removeAny(p: string): void {
  rmSync(p, { recursive: true, force: true });
}

function lstatOrUndefined(p: string) {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function unpackLayer(opts: UnpackOptions): Promise<UnpackResult> {
  const { root, native } = opts;
  const what = opts.what ?? 'layer';
  const sameOwner = opts.sameOwner ?? process.getuid?.() === 0;
  if (opts.compression === 'zstd') throw new ImageError('UnsupportedMediaType', `${what}: zstd layers are not supported`);
  const result: UnpackResult = { diffId: '', entries: 0, whiteouts: 0, opaques: 0, bytes: 0 };
  // Directory metadata is applied at the end: writing children changes mtimes
  // and a read-only mode would stop the writes.
  const dirs: { path: string; mode: number; mtime?: Date }[] = [];
  let failure: unknown;

  const own = (p: string, e: ReadEntry, link: boolean) => {
    if (!sameOwner) return;
    (link ? lchownSync : chownSync)(p, e.uid ?? 0, e.gid ?? 0);
  };

  const handle = (e: ReadEntry): void => {
    result.entries++;
    const parts = entryPathParts(e.path);
    if (parts.length === 0) {
      if (e.type === 'Directory') dirs.push({ path: root, mode: (e.mode ?? 0o755) & 0o7777, ...(e.mtime ? { mtime: e.mtime } : {}) });
      e.resume();
      return;
    }
    const name = parts[parts.length - 1]!;
    const dir = resolveDirInRoot(root, parts.slice(0, -1), e.path, true);
    const target = join(dir, name);

    if (name.startsWith(WHITEOUT_PREFIX)) {
      e.resume();
      if (name === OPAQUE_WHITEOUT) {
        native.lsetxattr(dir, OVERLAY_OPAQUE_XATTR, Buffer.from('y'));
        result.opaques++;
        return;
      }
      const hidden = name.slice(WHITEOUT_PREFIX.length);
      if (hidden === '' || hidden === '.' || hidden === '..') throw new UnsafeLayerPathError(e.path, 'bad whiteout name');
      const at = join(dir, hidden);
      removeAny(at);
      native.mknod(at, S_IFCHR, 0, 0);
      result.whiteouts++;
      return;
    }

    const existing = lstatOrUndefined(target);
    const mode = (e.mode ?? 0o644) & 0o7777;
    switch (e.type) {
      case 'Directory': {
        if (existing && !existing.isDirectory()) removeAny(target);
        if (!existing || !existing.isDirectory()) mkdirSync(target, { mode: 0o700 });
        own(target, e, false);
        dirs.push({ path: target, mode, ...(e.mtime ? { mtime: e.mtime } : {}) });
        e.resume();
        return;
      }
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        if (existing) removeAny(target);
        const fd = openSync(target, 'wx', 0o600);
        let closed = false;
        const close = () => {
          if (!closed) {
            closed = true;
            closeSync(fd);
          }
        };
        e.on('data', (chunk: Buffer) => {
          if (failure) return;
          try {
            let off = 0;
            while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            result.bytes += chunk.length;
          } catch (err) {
            failure ??= err;
            close();
          }
        });
        e.on('end', () => {
          if (failure) return close();
          try {
            close();
            own(target, e, false);
            chmodSync(target, mode);
            if (e.mtime) utimesSync(target, e.atime ?? e.mtime, e.mtime);
          } catch (err) {
            failure ??= err;
          }
        });
        return;
      }
      case 'SymbolicLink': {
        e.resume();
        if (existing) removeAny(target);
        symlinkSync(e.linkpath ?? '', target);
        own(target, e, true);
        if (e.mtime) lutimesSync(target, e.mtime, e.mtime);
        return;
      }
      case 'Link': {
        e.resume();
        const lparts = entryPathParts(e.linkpath ?? '');
        if (lparts.length === 0) throw new UnsafeLayerPathError(e.path, 'hardlink to the root');
        const ldir = resolveDirInRoot(root, lparts.slice(0, -1), e.linkpath ?? '', false);
        const source = join(ldir, lparts[lparts.length - 1]!);
        const st = lstatOrUndefined(source);
        if (!st) throw new ImageError('LayerUnpackFailed', `layer entry ${JSON.stringify(e.path)}: hardlink target ${JSON.stringify(e.linkpath)} does not exist`);
        if (st.isDirectory()) throw new UnsafeLayerPathError(e.path, 'hardlink to a directory');
        if (existing) removeAny(target);
        linkSync(source, target);
        return;
      }
      case 'CharacterDevice':
      case 'BlockDevice':
      case 'FIFO': {
        e.resume();
        if (existing) removeAny(target);
        const type = e.type === 'CharacterDevice' ? S_IFCHR : e.type === 'BlockDevice' ? S_IFBLK : S_IFIFO;
        native.mknod(target, type | mode, e.header.devmaj ?? 0, e.header.devmin ?? 0);
        own(target, e, true);
        return;
      }
      default:
        // Pax/GNU meta entries are consumed by the parser; anything else
        // (sparse files, sockets) is not part of an image we can run.
        e.resume();
        throw new ImageError('LayerUnpackFailed', `layer entry ${JSON.stringify(e.path)}: unsupported entry type ${e.type}`);
    }
  };

  const parser = new Parser({ strict: true });
  parser.on('entry', (e: ReadEntry) => {
    if (failure) {
      e.resume();
      return;
    }
    try {
      handle(e);
    } catch (err) {
      failure = err;
      e.resume();
    }
  });
  parser.on('warn', (code: string, message: string | Error) => {
    failure ??= new ImageError('LayerUnpackFailed', `${what}: bad tar data: ${code} ${typeof message === 'string' ? message : message.message}`);
  });
  parser.on('error', (err: Error) => {
    failure ??= new ImageError('LayerUnpackFailed', `${what}: bad tar data: ${err.message}`, { cause: err });
  });
  const parserDone = new Promise<void>((resolve) => parser.on('end', () => resolve()));

  const hash = createHash('sha256');
  const stream: AsyncIterable<Buffer> = opts.compression === 'gzip' ? opts.source.pipe(createGunzip()) : opts.source;
  try {
    for await (const chunk of stream) {
      hash.update(chunk);
      if (failure) break;
      if (!parser.write(chunk)) await new Promise<void>((r) => parser.once('drain', () => r()));
    }
  } catch (err) {
    failure ??= new ImageError('LayerUnpackFailed', `${what}: cannot read layer: ${(err as Error).message}`, { cause: err });
  } finally {
    opts.source.destroy();
  }
  if (failure) throw failure;
  parser.end();
  await parserDone;
  if (failure) throw failure;

  for (const d of dirs.reverse()) {
    chmodSync(d.path, d.mode);
    if (d.mtime) utimesSync(d.path, d.mtime, d.mtime);
  }
  result.diffId = `sha256:${hash.digest('hex')}`;
  if (opts.expectedDiffId && opts.expectedDiffId !== result.diffId) throw new DigestMismatchError(`${what} (uncompressed)`, opts.expectedDiffId, result.diffId);
  return result;
}
