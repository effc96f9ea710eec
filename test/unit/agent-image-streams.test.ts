import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { NotFoundError, silentLogger } from '../../api/index.js';
import { ImageError } from '../../node-agent/images/index.js';
import { clearImageScratch, imageHandlers, userFacingError, type ImageAdmin } from '../../node-agent/streams/images.js';

const FILE = '/var/lib/flotilla/image-transfers/import-0123abcd.tar';

describe("the agent's image RPCs: errors as the user reads them", () => {
  it('an archive the importer refuses is a 400 naming "the uploaded tar", not the scratch file', () => {
    const e = userFacingError(new ImageError('InvalidArchive', `${FILE}: no oci-layout file (only OCI image layout tars can be imported)`), FILE, 'the uploaded tar');
    expect(e).toMatchObject({ code: 'BadRequest', message: 'the uploaded tar: no oci-layout file (only OCI image layout tars can be imported)' });
  });

  it('other errors keep their code; those that do not mention the file pass as they are', () => {
    const missing = new ImageError('ImageNotPresent', 'image "docker.io/library/nothere:1" is not in the store');
    expect(userFacingError(missing, FILE, 'the exported tar')).toBe(missing);
    const io = new NotFoundError(`ENOENT: ${FILE}`);
    expect(userFacingError(io, FILE, 'the uploaded tar')).toMatchObject({ code: 'NotFound', message: 'ENOENT: the uploaded tar' });
  });
});

describe("the agent's image RPC handlers (a recording image store, calls as streams)", () => {
  type Cb = (err: (Error & { code?: number; metadata?: { get(k: string): unknown[] } }) | null, res?: unknown) => void;
  const callback = () => {
    let resolve!: (v: { err: Parameters<Cb>[0]; res: unknown }) => void;
    const done = new Promise<{ err: Parameters<Cb>[0]; res: unknown }>((r) => (resolve = r));
    const cb: Cb = (err, res) => resolve({ err, res });
    return { cb, done };
  };
  const dirs: string[] = [];
  const scratchDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'flotilla-image-rpc-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('without an image store (a hollow node) every image call is NotSupported', async () => {
    const h = imageHandlers({ nodeName: 'hollow-1', log: silentLogger(), authorize: () => undefined });
    const { cb, done } = callback();
    (h.ListImages as (c: unknown, cb: Cb) => void)({}, cb);
    const { err } = await done;
    expect(err?.message).toBe('node "hollow-1" has no image store (a hollow node)');
    expect(err?.metadata?.get('flotilla-code')).toEqual(['NotSupported']);
  });

  it('ImportImage stages the chunks in a scratch file, names the images from the first chunk and removes the file', async () => {
    const dir = scratchDir();
    const seen: { content: string; name?: string; path: string }[] = [];
    const admin: ImageAdmin = {
      importImage: async (path, opts) => {
        seen.push({ content: readFileSync(path, 'utf8'), path, ...(opts?.name ? { name: opts.name } : {}) });
        return ['docker.io/library/busybox:1.35'];
      },
      exportImage: async () => undefined,
      listImages: async () => [],
    };
    const h = imageHandlers({ images: { admin, scratchDir: dir }, nodeName: 'n1', log: silentLogger(), authorize: () => undefined });
    const call = new PassThrough({ objectMode: true });
    const { cb, done } = callback();
    (h.ImportImage as (c: unknown, cb: Cb) => void)(call, cb);
    call.write({ data: Buffer.from('part one, '), name: 'busybox:1.35' });
    call.write({ data: Buffer.from('part two') });
    call.end();
    const { err, res } = await done;
    expect(err).toBeNull();
    expect(res).toEqual({ images: ['docker.io/library/busybox:1.35'] });
    expect(seen).toEqual([{ content: 'part one, part two', name: 'busybox:1.35', path: expect.stringMatching(new RegExp(`^${dir}/import-[0-9a-f]+\\.tar$`)) }]);
    // Removed before the answer.
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an empty upload is a 400 and the importer is never asked', async () => {
    const dir = scratchDir();
    let asked = false;
    const admin: ImageAdmin = { importImage: async () => ((asked = true), []), exportImage: async () => undefined, listImages: async () => [] };
    const h = imageHandlers({ images: { admin, scratchDir: dir }, nodeName: 'n1', log: silentLogger(), authorize: () => undefined });
    const call = new PassThrough({ objectMode: true });
    const { cb, done } = callback();
    (h.ImportImage as (c: unknown, cb: Cb) => void)(call, cb);
    call.end();
    const { err } = await done;
    expect(err?.metadata?.get('flotilla-code')).toEqual(['BadRequest']);
    expect(err?.message).toBe('the upload is empty: expected an OCI image layout tar');
    expect(asked).toBe(false);
  });

  it('leftover scratch tars of a stopped agent are cleared, other files are not', async () => {
    const dir = scratchDir();
    for (const f of ['import-0a1b.tar', 'export-ff00.tar', 'keep.txt']) writeFileSync(join(dir, f), 'x');
    await clearImageScratch(dir);
    expect(readdirSync(dir)).toEqual(['keep.txt']);
  });
});
