// The REST face of a node's image store: routes, streamed bodies, limits and
// Status errors, with a recording provider in place of the node agents (the
// real path, controller → agent → image store, is test/integration/images-api.test.ts).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, NotFoundError, UnavailableError, type Node } from '../../api/index.js';
import { MAX_IMAGE_TAR_BYTES } from '../../api/streams-protocol.js';
import { buildApiServer, type ApiServer } from '../../controller/apiserver/app.js';
import { exportFileName, limitedUpload, registerNodeImageApi } from '../../controller/flotillaapi/images.js';
import { TokenAuthenticator } from '../../controller/pki/tokens.js';
import { MemoryStore } from '../../controller/storage/memory-store.js';
import { checkImageNode, tarMessages, type NodeImagesProvider } from '../../controller/streams/index.js';

const TOKEN = 'test-token-abc';
const auth = { authorization: `Bearer ${TOKEN}` };

let server: ApiServer;
let calls: string[];
let uploaded: Buffer;

const provider: NodeImagesProvider = {
  async list(node) {
    calls.push(`list ${node}`);
    if (node === 'gone') throw new NotFoundError('nodes "gone" not found', { kind: 'nodes', name: 'gone' });
    return [{ name: 'docker.io/library/busybox:1.35', digest: `sha256:${'a'.repeat(64)}`, size: 1234 }];
  },
  async import(node, tar, opts = {}) {
    const parts: Buffer[] = [];
    for await (const c of tar) parts.push(Buffer.from(c));
    uploaded = Buffer.concat(parts);
    calls.push(`import ${node} ${uploaded.length}${opts.name ? ` as ${opts.name}` : ''}`);
    return ['docker.io/library/busybox:1.35'];
  },
  async export(node, image) {
    calls.push(`export ${node} ${image}`);
    if (node === 'down') throw new UnavailableError('node "down" is not Ready (Unknown, NodeStatusUnknown): its images cannot be reached now');
    return (async function* () {
      yield Buffer.from('tar ');
      yield Buffer.from('bytes');
    })();
  },
};

beforeEach(async () => {
  calls = [];
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  server = buildApiServer({
    store: new MemoryStore(() => clock.now()),
    auth: new TokenAuthenticator([{ token: TOKEN, user: 'admin' }]),
    clock,
    extraRoutes: (app) => registerNodeImageApi(app, { images: provider }),
  });
  await server.api.bootstrap();
});

afterEach(async () => {
  await server.app.close();
});

describe('REST: /apis/flotilla.io/v1/nodes/{node}/images', () => {
  it('lists a node\'s images', async () => {
    const r = await server.app.inject({ method: 'GET', url: '/apis/flotilla.io/v1/nodes/h1/images', headers: auth });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({
      kind: 'NodeImageList',
      apiVersion: 'flotilla.io/v1',
      node: 'h1',
      items: [{ name: 'docker.io/library/busybox:1.35', digest: `sha256:${'a'.repeat(64)}`, size: 1234 }],
    });
  });

  it('imports a tar body (any content type, streamed to the provider) and answers 201 with the names', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 7); // beyond the 3 MiB limit of object bodies
    const r = await server.app.inject({ method: 'POST', url: '/apis/flotilla.io/v1/nodes/h1/images?name=busybox:1.35', headers: { ...auth, 'content-type': 'application/x-tar' }, payload: body });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toEqual({ kind: 'NodeImageImport', apiVersion: 'flotilla.io/v1', node: 'h1', images: ['docker.io/library/busybox:1.35'] });
    expect(calls).toEqual([`import h1 ${body.length} as busybox:1.35`]);
    expect(uploaded.equals(body)).toBe(true);
  });

  it('refuses an empty body (400) and one announced beyond 2 GiB (413) without calling the node', async () => {
    const empty = await server.app.inject({ method: 'POST', url: '/apis/flotilla.io/v1/nodes/h1/images', headers: { ...auth, 'content-type': 'application/x-tar' }, payload: '' });
    expect(empty.statusCode).toBe(400);
    expect(empty.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: expect.stringContaining('OCI image layout tar') });
    const huge = await server.app.inject({
      method: 'POST',
      url: '/apis/flotilla.io/v1/nodes/h1/images',
      headers: { ...auth, 'content-type': 'application/x-tar', 'content-length': String(MAX_IMAGE_TAR_BYTES + 1) },
      payload: 'x',
    });
    expect(huge.statusCode).toBe(413);
    expect(huge.json()).toMatchObject({ kind: 'Status', reason: 'RequestEntityTooLarge', code: 413 });
    expect(calls).toEqual([]);
  });

  it('exports by an encoded reference in the path or by ?image=, as an attachment', async () => {
    const ref = 'docker.io/library/busybox:1.35';
    const byPath = await server.app.inject({ method: 'GET', url: `/apis/flotilla.io/v1/nodes/h1/images/${encodeURIComponent(ref)}/export`, headers: auth });
    expect(byPath.statusCode).toBe(200);
    expect(byPath.headers['content-type']).toBe('application/x-tar');
    expect(byPath.headers['content-disposition']).toBe('attachment; filename="busybox_1.35.tar"');
    expect(byPath.body).toBe('tar bytes');
    const byQuery = await server.app.inject({ method: 'GET', url: `/apis/flotilla.io/v1/nodes/h1/images/export?image=${encodeURIComponent(ref)}`, headers: auth });
    expect(byQuery.body).toBe('tar bytes');
    expect(calls).toEqual([`export h1 ${ref}`, `export h1 ${ref}`]);
    const none = await server.app.inject({ method: 'GET', url: '/apis/flotilla.io/v1/nodes/h1/images/export', headers: auth });
    expect(none.statusCode).toBe(400);
  });

  it('errors are Status objects with their codes, and nothing without a token', async () => {
    const gone = await server.app.inject({ method: 'GET', url: '/apis/flotilla.io/v1/nodes/gone/images', headers: auth });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toMatchObject({ kind: 'Status', reason: 'NotFound', message: 'nodes "gone" not found', details: { kind: 'nodes', name: 'gone' } });
    const down = await server.app.inject({ method: 'GET', url: '/apis/flotilla.io/v1/nodes/down/images/export?image=busybox', headers: auth });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ kind: 'Status', reason: 'ServiceUnavailable' });
    const anon = await server.app.inject({ method: 'GET', url: '/apis/flotilla.io/v1/nodes/h1/images' });
    expect(anon.statusCode).toBe(401);
  });
});

describe('pure helpers of the image routes', () => {
  const node = (status?: string, reason?: string): Node => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'h1' },
    status: status ? { conditions: [{ type: 'Ready', status: status as 'True', ...(reason ? { reason } : {}) }] } : {},
  });

  it('checkImageNode: unknown is 404, not Ready is 503 with why, Ready passes', () => {
    expect(() => checkImageNode('h9', undefined)).toThrow(expect.objectContaining({ code: 'NotFound', message: 'nodes "h9" not found' }));
    expect(() => checkImageNode('h1', node('Unknown', 'NodeStatusUnknown'))).toThrow(
      expect.objectContaining({ code: 'Unavailable', message: 'node "h1" is not Ready (Unknown, NodeStatusUnknown): its images cannot be reached now' }),
    );
    expect(() => checkImageNode('h1', node())).toThrow(expect.objectContaining({ code: 'Unavailable', message: expect.stringContaining('no Ready condition yet') }));
    expect(checkImageNode('h1', node('True')).metadata.name).toBe('h1');
  });

  it('tarMessages splits big chunks and keeps small ones whole', () => {
    expect([...tarMessages(Buffer.alloc(10), 4)].map((b) => b.length)).toEqual([4, 4, 2]);
    expect([...tarMessages(new Uint8Array(3), 4)].map((b) => b.length)).toEqual([3]);
    expect([...tarMessages(Buffer.alloc(0), 4)]).toEqual([]);
  });

  it('limitedUpload passes chunks through, refuses more than the limit and an empty upload', async () => {
    const from = (...chunks: string[]) => (async function* () {
      for (const c of chunks) yield Buffer.from(c);
    })();
    const read = async (it: AsyncIterable<Uint8Array>) => {
      let s = '';
      for await (const c of it) s += Buffer.from(c).toString();
      return s;
    };
    expect(await read(limitedUpload(from('ab', '', 'cd'), 4))).toBe('abcd');
    await expect(read(limitedUpload(from('ab', 'cde'), 4))).rejects.toMatchObject({ code: 'RequestEntityTooLarge' });
    await expect(read(limitedUpload(from(), 4))).rejects.toMatchObject({ code: 'BadRequest' });
  });

  it('exportFileName is the last path component, safe for a file name', () => {
    expect(exportFileName('docker.io/library/busybox:1.35')).toBe('busybox_1.35.tar');
    expect(exportFileName(`10.0.0.1:5000/app@sha256:${'b'.repeat(64)}`)).toBe(`app_sha256_${'b'.repeat(64)}.tar`);
  });
});
