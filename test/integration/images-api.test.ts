// Images through the agent's API, end to end: flotctl → the API server →
// the agent's stream port (mutual TLS) → the real NodeRuntime's image store,
// with pods run by crun. Import of an OCI layout tar for hosts without a
// registry (a pod with imagePullPolicy: Never runs from it), export back,
// refusal of bad tars without harm to the store, the node restriction; and
// the pull events of pods whose image comes from a real local registry.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { Agent as HttpAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Pod } from '../../api/index.js';
import { ControllerClient } from '../../node-agent/controller-client.js';
import type { PodEventSink } from '../../node-agent/pull-events.js';
import { openLayout, pushImage, RegistryClient } from '../../node-agent/index.js';
import { controllerEventSink } from '../../node-agent/runtime-factory.js';
import { imageAdminOf } from '../../node-agent/streams/index.js';
import { startRuntimeFixture, type RuntimeFixture } from '../helpers/node-runtime.js';
import { buildTestImage, freePort, startRegistry, startRegistryProxy, type LocalRegistry, type RegistryProxy, type TestImageSummary } from '../helpers/registry.js';
import { startStreamsCluster, until, type StreamsCluster } from '../helpers/streams-cluster.js';

const NODE = `images-api-${process.pid}`;
const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
let fx: RuntimeFixture;
let c: StreamsCluster;
let work: string;
let image: TestImageSummary;
let tarFile: string;
let sink: PodEventSink | undefined;
// A registry behind a proxy that can slow blob transfers down (pull progress takes a few seconds).
let registry: LocalRegistry;
let proxy: RegistryProxy;
let slowImage: string;
let throttle = false;
const scratch = () => join(fx.stateDir, 'image-transfers');
const name = (s: string) => `${fx.prefix}-${s}`;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startRegistryProxy(registry.host, {
    fault: (req) => (throttle && req.method === 'GET' && /\/blobs\/sha256:/.test(req.path) ? { throttle: 200 * 1024 } : undefined),
  });
  // The runtime is built before the agent joins: its event sink is bound once the credential exists.
  fx = await startRuntimeFixture('images through the API', { events: (...a) => sink?.(...a), insecureRegistries: [proxy.host] });
  try {
    const pushed = buildTestImage(join(fx.tmp, 'pushed'));
    await pushImage(new RegistryClient({ insecureRegistries: [registry.host] }), openLayout(pushed.dir), undefined, `${registry.host}/flotilla/slow:1`);
    slowImage = `${proxy.host}/flotilla/slow:1`;
    c = await startStreamsCluster({
      suite: 'images through the API',
      nodeName: NODE,
      runtime: fx.runtime,
      images: { admin: imageAdminOf(fx.runtime.images), scratchDir: join(fx.stateDir, 'image-transfers') },
    });
    sink = controllerEventSink(new ControllerClient(c.cred), silentLogger());
    work = join(fx.tmp, 'work');
    mkdirSync(work, { recursive: true });
    tarFile = join(work, 'busybox.tar');
    image = buildTestImage(join(work, 'layout'), { name: 'busybox:1.35', tar: tarFile });
    await until('the node Ready', async () => {
      const n = (await c.rest('GET', `/api/v1/nodes/${NODE}`)).json;
      return n?.status?.conditions?.some((x: { type: string; status: string }) => x.type === 'Ready' && x.status === 'True') ? true : undefined;
    });
  } catch (e) {
    await c?.stop();
    await fx.cleanup();
    await proxy.close();
    await registry.stop();
    throw e;
  }
});

afterAll(async () => {
  await c?.stop();
  await fx?.cleanup();
  await proxy?.close();
  await registry?.stop();
});

async function describePod(pod: string): Promise<string> {
  const r = await c.flotctl(['describe', 'pod', pod]);
  expect(r.code).toBe(0);
  return r.stdout;
}

// First, while the store is empty: the registry image's blobs are the test image's too.
describe('[images] pull events of pods, from a real local registry', () => {
  it('a pull that takes a while shows Pulling, progress about every 2 s, then Pulled with time and size; a second pod "already present on machine"', async () => {
    throttle = true;
    let first: Pod;
    try {
      first = await c.runningPod(name('pulled'), [{ name: 'main', image: slowImage, imagePullPolicy: 'IfNotPresent', command: SLEEP }], 90_000);
    } finally {
      throttle = false;
    }
    const d1 = await until('the pull events of the first pod', async () => {
      const d = await describePod(first.metadata.name!);
      return d.includes('Started') ? d : undefined;
    });
    const q = slowImage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(d1).toMatch(new RegExp(`Normal +Pulling .*flotilla-agent +Pulling image "${q}"\\n`));
    expect(d1).toMatch(new RegExp(`Normal +Pulling .*flotilla-agent +Pulling image "${q}": \\d+(\\.\\d)? (B|KiB|MiB) of \\d+\\.\\d (KiB|MiB) \\([012]/2 layers\\)\\n`));
    const pulled = new RegExp(`Normal +Pulled .*flotilla-agent +Successfully pulled image "${q}" in (\\d+\\.\\d{3})s \\((\\d+\\.\\d) (KiB|MiB)\\)\\n`).exec(d1);
    expect(pulled).not.toBeNull();
    // About 1 MiB at 200 KiB/s.
    expect(Number(pulled![1])).toBeGreaterThan(2);
    // The kubelet's order: Pulling, progress, Pulled, then Started.
    expect(d1.indexOf(`Pulling image "${slowImage}"`)).toBeLessThan(d1.indexOf(`Pulling image "${slowImage}":`));
    expect(d1.indexOf(`Pulling image "${slowImage}":`)).toBeLessThan(d1.indexOf('Successfully pulled'));
    expect(d1.indexOf('Successfully pulled')).toBeLessThan(d1.indexOf('Started container main'));

    const second = await c.runningPod(name('cached'), [{ name: 'main', image: slowImage, imagePullPolicy: 'IfNotPresent', command: SLEEP }], 60_000);
    const d2 = await until('the events of the second pod', async () => {
      const d = await describePod(second.metadata.name!);
      return d.includes('Started') ? d : undefined;
    });
    expect(d2).toContain(`Container image "${slowImage}" already present on machine`);
    expect(d2).not.toContain('Pulling image');
  });
});

describe('[images] flotctl image import / list / export through the agent', () => {
  it('flotctl image import FILE.tar imports on every Ready node and says what it imported where', async () => {
    const r = await c.flotctl(['image', 'import', tarFile]);
    expect(r).toEqual({ code: 0, stdout: `imported busybox:1.35 on ${NODE}\n`, stderr: '' });
    // The scratch copy of the upload is gone.
    expect(readdirSync(scratch())).toEqual([]);
  });

  it('flotctl image list --node shows it: REPOSITORY TAG DIGEST SIZE', async () => {
    const r = await c.flotctl(['image', 'list', '--node', NODE]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY +TAG +DIGEST +SIZE$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^busybox +1\\.35 +${image.manifestDigest.slice(0, 19)} +\\d`)));
  });

  it('a pod with imagePullPolicy: Never runs from the imported image (no registry involved)', async () => {
    const pod = await c.runningPod(name('never'), [{ name: 'main', image: 'busybox:1.35', imagePullPolicy: 'Never', command: SLEEP }], 60_000);
    // Layer 2 of the test image added this file: the rootfs is the imported image's.
    const r = await c.flotctl(['exec', pod.metadata.name!, '--', 'ls', '/etc/added-by-layer2']);
    expect(r).toEqual({ code: 0, stdout: '/etc/added-by-layer2\n', stderr: '' });
    expect(await describePod(pod.metadata.name!)).toContain('Container image "busybox:1.35" already present on machine');
  });

  it('flotctl image export writes an OCI layout tar: index.json names the image, every blob is there with its digest', async () => {
    const out = join(work, 'exported.tar');
    const r = await c.flotctl(['image', 'export', 'busybox:1.35', '-o', out, '--node', NODE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^exported busybox:1\\.35 on ${NODE} to ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d`));
    const dir = join(work, 'exported');
    mkdirSync(dir);
    await tar.x({ file: out, cwd: dir });
    expect(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]).toMatchObject({
      digest: image.manifestDigest,
      size: image.manifestSize,
      annotations: { 'org.opencontainers.image.ref.name': 'docker.io/library/busybox:1.35' },
    });
    const blobs = readdirSync(join(dir, 'blobs', 'sha256')).sort();
    const want = [image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)].map((d) => d.slice('sha256:'.length)).sort();
    expect(blobs).toEqual(want);
    for (const b of blobs) expect(createHash('sha256').update(readFileSync(join(dir, 'blobs', 'sha256', b))).digest('hex')).toBe(b);
    expect(readdirSync(scratch())).toEqual([]);
  });

  it('export -o - writes the tar to stdout; a file that cannot be written is a clear error and leaves nothing', async () => {
    const r = await c.flotctl(['image', 'export', 'busybox:1.35', '-o', '-', '--node', NODE]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('oci-layout')).toBe(true);
    const bad = await c.flotctl(['image', 'export', 'busybox:1.35', '-o', join(work, 'no-such-dir', 'x.tar'), '--node', NODE]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`^error: exporting busybox:1\\.35 from ${NODE}: ENOENT: no such file or directory`));
    // The agent's copy goes once it hears that the reader left.
    await until('the agent to drop its export copy', async () => (readdirSync(scratch()).length === 0 ? true : undefined));
  });

  it('export by ?image= over REST streams the same tar', async () => {
    const r = await c.rest('GET', `/apis/flotilla.io/v1/nodes/${NODE}/images/export?image=busybox:1.35`);
    expect(r.status).toBe(200);
    expect(r.text.length).toBeGreaterThan(1024);
  });
});

describe('[images] bad input and who may ask', () => {
  const listNames = async () => (await fx.runtime.images.listImages()).map((i) => i.name).sort();

  it('a file that is not a tar is refused (400) with the importer\'s message; the store is as it was', async () => {
    const before = await listNames();
    const junk = join(work, 'junk.tar');
    writeFileSync(junk, Buffer.alloc(64 * 1024, 'not a tar '));
    const r = await c.flotctl(['image', 'import', junk, '--node', NODE]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Error from server \(BadRequest\): the uploaded tar: not a readable tar archive: .+\n$/);
    expect(await listNames()).toEqual(before);
    expect(readdirSync(fx.runtime.images.store.ingestDir)).toEqual([]);
    expect(readdirSync(scratch())).toEqual([]);
  });

  it('a layout whose layer was tampered with is refused with the digest mismatch; no image of it is recorded', async () => {
    const before = await listNames();
    const dir = join(work, 'tampered');
    // A busybox that differs by a few bytes gives layers the store does not have yet
    // (blobs it has are never read from a tar again, tampered or not).
    const variant = join(work, 'busybox-variant');
    writeFileSync(variant, Buffer.concat([readFileSync(process.env.BUSYBOX ?? '/bin/busybox'), randomBytes(16)]), { mode: 0o755 });
    const saved = process.env.BUSYBOX;
    process.env.BUSYBOX = variant;
    let img: TestImageSummary;
    try {
      img = buildTestImage(dir, { name: 'tampered:1' });
    } finally {
      if (saved === undefined) delete process.env.BUSYBOX;
      else process.env.BUSYBOX = saved;
    }
    expect(img.layers[0]!.digest).not.toBe(image.layers[0]!.digest);
    const layer = join(dir, 'blobs', 'sha256', img.layers[0]!.digest.slice('sha256:'.length));
    const bytes = readFileSync(layer);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(layer, bytes);
    const bad = join(work, 'tampered.tar');
    await tar.c({ file: bad, cwd: dir, portable: true }, ['oci-layout', 'index.json', 'blobs']);
    const r = await c.flotctl(['image', 'import', bad, '--node', NODE]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error from server \(BadRequest\): layer sha256:[0-9a-f]{64} in the uploaded tar: digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}\n$/);
    expect(await listNames()).toEqual(before);
    expect(before).not.toContain('docker.io/library/tampered:1');
    expect(readdirSync(fx.runtime.images.store.ingestDir)).toEqual([]);
    // The image imported before is whole: a pod still runs from it.
    await c.runningPod(name('after-bad'), [{ name: 'main', image: 'busybox:1.35', imagePullPolicy: 'Never', command: SLEEP }], 60_000);
  });

  it('unknown node is 404, unknown image is 404, as flotctl shows them', async () => {
    expect(await c.flotctl(['image', 'list', '--node', 'no-such-node'])).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Error from server (NotFound): nodes "no-such-node" not found\n',
    });
    // One node of several unknown: the others still get the image, the exit code says something failed.
    expect(await c.flotctl(['image', 'import', tarFile, '--node', NODE, '--node', 'ghost'])).toEqual({
      code: 1,
      stdout: `imported busybox:1.35 on ${NODE}\n`,
      stderr: 'Error from server (NotFound): nodes "ghost" not found\n',
    });
    const missing = await c.flotctl(['image', 'export', 'nothere:1', '-o', join(work, 'nothere.tar'), '--node', NODE]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('Error from server (NotFound): image "docker.io/library/nothere:1" is not in the store\n');
    expect(readdirSync(work)).not.toContain('nothere.tar');
  });

  it('a node that is not Ready, or whose agent does not answer, is 503', async () => {
    const lonely = `${fx.prefix}-lonely`;
    const silent = `${fx.prefix}-silent`;
    try {
      expect((await c.rest('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: lonely } })).status).toBe(201);
      const r = await c.flotctl(['image', 'list', '--node', lonely]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^Error from server \\(ServiceUnavailable\\): node "${lonely}" is not Ready \\(.+\\): its images cannot be reached now\\n$`));

      // Ready by its status, but nothing listens where it says its agent is.
      const created = await c.rest('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: silent } });
      expect(created.status).toBe(201);
      const port = await freePort();
      const now = new Date().toISOString();
      // the node lifecycle controller taints a node without a Ready condition at once: read it
      // again before writing, and retry a lost compare-and-swap, as a client does
      let st = { status: 409 };
      for (let i = 0; i < 10 && st.status === 409; i++) {
        const cur = await c.rest('GET', `/api/v1/nodes/${silent}`);
        st = await c.rest('PUT', `/api/v1/nodes/${silent}/status`, {
          ...cur.json,
          status: {
            conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }],
            addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
            daemonEndpoints: { kubeletEndpoint: { Port: port } },
          },
        });
      }
      expect(st.status).toBe(200);
      const s = await c.flotctl(['image', 'import', tarFile, '--node', silent]);
      expect(s.code).toBe(1);
      expect(s.stdout).toBe('');
      expect(s.stderr).toMatch(new RegExp(`^Error from server \\(ServiceUnavailable\\): (cannot reach the agent of node "${silent}" at 127\\.0\\.0\\.1:${port}|node "${silent}" is not Ready)`));
    } finally {
      await c.rest('DELETE', `/api/v1/nodes/${lonely}`);
      await c.rest('DELETE', `/api/v1/nodes/${silent}`);
    }
  });

  it('a node certificate gets 403 on every image route', async () => {
    const asNode = new HttpAgent({ connect: { ca: c.state.ca.certPem, cert: c.cred.certPem, key: c.cred.keyPem } });
    try {
      for (const [method, path] of [
        ['GET', `/apis/flotilla.io/v1/nodes/${NODE}/images`],
        ['POST', `/apis/flotilla.io/v1/nodes/${NODE}/images`],
        ['GET', `/apis/flotilla.io/v1/nodes/${NODE}/images/busybox%3A1.35/export`],
      ] as const) {
        const r = await request(`${c.server}${path}`, { method, dispatcher: asNode, ...(method === 'POST' ? { body: readFileSync(tarFile) } : {}) });
        const status = (await r.body.json()) as { kind: string; reason: string; message: string };
        expect(r.statusCode).toBe(403);
        expect(status).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
        expect(status.message).toContain(`system:node:${NODE}`);
      }
    } finally {
      await asNode.close();
    }
  });
});
