import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KubeObject, Node } from '../../api/index.js';
import type { RequestOptions, Transport } from '../../cli/client.js';
import { familiarImageName, humanSize, imageRows, shortDigest, splitImageName } from '../../cli/commands/image.js';
import { ApiStatusError } from '../../cli/errors.js';
import { runCli } from '../../cli/program.js';

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

/** The controller as flotctl image sees it: nodes, and each node's image routes. */
class FakeImagesApi implements Transport {
  readonly server = 'https://fake:6443';
  readonly calls: string[] = [];
  constructor(private readonly nodes: Array<{ name: string; ready: boolean }>) {}

  async requestJson<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    if (method === 'GET' && path === '/api/v1/nodes') {
      const items: Node[] = this.nodes.map((n) => ({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.name },
        status: { conditions: [{ type: 'Ready', status: n.ready ? 'True' : 'Unknown' }] },
      }));
      return { kind: 'NodeList', items } as T;
    }
    const m = /^\/apis\/flotilla\.io\/v1\/nodes\/([^/]+)\/images$/.exec(path);
    if (!m) throw new Error(`unexpected ${method} ${path}`);
    const node = decodeURIComponent(m[1]!);
    if (method === 'POST') {
      let bytes = 0;
      for await (const c of opts.bodyStream ?? []) bytes += c.length;
      this.calls.push(`POST ${node} ${bytes} bytes ${opts.contentType}${opts.query?.name ? ` name=${opts.query.name}` : ''}`);
      if (node === 'h2') {
        throw new ApiStatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'ServiceUnavailable', code: 503, message: 'node "h2" is not Ready' }, 503);
      }
      return { images: ['docker.io/library/busybox:1.35'] } as T;
    }
    this.calls.push(`GET ${node}`);
    return { items: [{ name: 'docker.io/library/busybox:1.35', digest: D, size: 2_300_000 }] } as T;
  }
  async requestText(): Promise<string> {
    throw new Error('not used');
  }
  async stream(): Promise<AsyncIterable<Uint8Array>> {
    throw new Error('not used');
  }
  async *watch<T extends KubeObject = KubeObject>(): AsyncGenerator<{ type: 'ADDED'; object: T }> {
    throw new Error('not used');
  }
  async close(): Promise<void> {}
}

const dir = mkdtempSync(join(tmpdir(), 'flotctl-image-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(api: Transport, ...argv: string[]) {
  let out = '';
  let err = '';
  const code = await runCli(argv, { io: { out: (t) => void (out += t), err: (t) => void (err += t), readStdin: async () => '' }, env: {}, now: () => 0, transport: api });
  return { code, out, err };
}

describe('flotctl image import and list: which nodes', () => {
  const file = join(dir, 'img.tar');
  writeFileSync(file, Buffer.alloc(3000, 1));

  it('import without --node goes to every Ready node, streams the file as application/x-tar, and reports each', async () => {
    const api = new FakeImagesApi([{ name: 'h3', ready: true }, { name: 'h1', ready: true }, { name: 'h9', ready: false }]);
    expect(await run(api, 'image', 'import', file)).toEqual({ code: 0, out: 'imported busybox:1.35 on h1\nimported busybox:1.35 on h3\n', err: '' });
    expect(api.calls).toEqual(['POST h1 3000 bytes application/x-tar', 'POST h3 3000 bytes application/x-tar']);
  });

  it('a node that fails is reported and the others still get the image; exit code 1', async () => {
    const api = new FakeImagesApi([{ name: 'h1', ready: true }]);
    const r = await run(api, 'image', 'import', file, '--node', 'h2', '--node', 'h1', '--name', 'busybox:1.35');
    expect(r).toEqual({ code: 1, out: 'imported busybox:1.35 on h1\n', err: 'Error from server (ServiceUnavailable): node "h2" is not Ready\n' });
    expect(api.calls).toEqual(['POST h2 3000 bytes application/x-tar name=busybox:1.35', 'POST h1 3000 bytes application/x-tar name=busybox:1.35']);
  });

  it('refuses a missing file and a cluster without Ready nodes before sending anything', async () => {
    const api = new FakeImagesApi([{ name: 'h1', ready: false }]);
    expect(await run(api, 'image', 'import', join(dir, 'nope.tar'))).toEqual({ code: 1, out: '', err: `error: ${join(dir, 'nope.tar')}: no such file\n` });
    expect(await run(api, 'image', 'import', file)).toEqual({ code: 1, out: '', err: 'error: no Ready nodes to import to\n' });
    expect(api.calls).toEqual([]);
  });

  it('list of several nodes puts NODE first; export needs exactly one --node and -o', async () => {
    const api = new FakeImagesApi([{ name: 'h1', ready: true }, { name: 'h2', ready: true }]);
    const all = await run(api, 'image', 'list');
    expect(all.code).toBe(0);
    expect(all.out).toBe(
      'NODE   REPOSITORY   TAG    DIGEST                SIZE\n' + 'h1     busybox      1.35   sha256:0123456789ab   2.30MB\n' + 'h2     busybox      1.35   sha256:0123456789ab   2.30MB\n',
    );
    const one = await run(api, 'image', 'list', '--node', 'h2');
    expect(one.out.split('\n')[0]).toMatch(/^REPOSITORY +TAG +DIGEST +SIZE$/);
    expect((await run(api, 'image', 'export', 'busybox:1.35', '-o', join(dir, 'x.tar'))).err).toBe('error: image export needs the node to export from: --node NODE (exactly one)\n');
    expect((await run(api, 'image', 'export', 'busybox:1.35', '--node', 'h1'))).toMatchObject({ code: 1, err: expect.stringContaining('-o FILE.tar') });
  });
});
