// Benchmark: pull + unpack of the busybox test image from a local
// docker-registry, against `curl` fetching the same manifest and blobs in the
// same run (both through one counting HTTP proxy, so both pay the same hop),
// and a second pull of the cached image, which must transfer no blob.
//
// Needs root (device nodes, xattrs of whiteouts), docker-registry, curl, and a
// compiled tree: `npx tsc -p tsconfig.json` (npm run build does it).
// Usage: npm run bench -- image-pull      (RUNS=9 for more samples)
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// Samples per measurement (medians are reported).
const RUNS = Number(process.env.RUNS ?? 7);

export const meta = { title: 'Image pull + unpack vs curl of the same blobs', issue: '[5/8]' };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url, child) {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error('docker-registry exited');
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} not ready`);
}

export async function run({ root }) {
  if (process.getuid?.() !== 0) throw new Error('image-pull benchmark needs root (whiteouts are device nodes)');
  const dist = join(root, 'dist', 'node-agent', 'images', 'index.js');
  if (!existsSync(dist)) throw new Error('dist/ is missing: run `npx tsc -p tsconfig.json` first');
  const images = await import(pathToFileURL(dist).href);
  const { buildTestImage } = await import(pathToFileURL(join(root, 'hack', 'test-image.mjs')).href);

  const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-pull-'));
  const port = await freePort();
  const registryHost = `127.0.0.1:${port}`;
  writeFileSync(
    join(work, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'registry')}\nhttp:\n  addr: ${registryHost}\n  secret: ${randomBytes(8).toString('hex')}\n`,
  );
  const registry = spawn('/usr/bin/docker-registry', ['serve', join(work, 'config.yml')], { stdio: 'ignore' });
  const requests = [];
  const proxy = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => res.writeHead(502).end(String(e)));
    req.pipe(up);
  });
  const services = [];
  try {
    await waitReady(`http://${registryHost}/v2/`, registry);
    await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${proxy.address().port}`;
    const img = buildTestImage(join(work, 'image'));
    const client = new images.RegistryClient({ insecureRegistries: [registryHost] });
    await images.pushImage(client, images.openLayout(img.dir), undefined, `${registryHost}/library/busybox:1.35`);
    const ref = `${host}/library/busybox:1.35`;
    const native = await images.loadNativeOps();

    const newService = async () => {
      const svc = await new images.ImageService({ stateDir: mkdtempSync(join(work, 'state-')), native, registry: { insecureRegistries: [host] } }).init();
      services.push(svc);
      return svc;
    };

    // curl: the same four GETs (manifest, config, two layers), one process, no verification or unpack.
    const urls = [
      `http://${ref.replace(':1.35', '')}/manifests/1.35`.replace(`${host}/library`, `${host}/v2/library`),
      ...[img.configDigest, ...img.layers.map((l) => l.digest)].map((d) => `http://${host}/v2/library/busybox/blobs/${d}`),
    ];
    const curlArgs = ['-sSf', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json'];
    for (const u of urls) curlArgs.push('-o', '/dev/null', u);
    const curlMs = [];
    const pullMs = [];
    const pullUnpackMs = [];
    for (let i = 0; i < RUNS; i++) {
      let t = process.hrtime.bigint();
      // Async: the counting proxy lives in this process.
      await promisify(execFile)('curl', curlArgs);
      curlMs.push(Number(process.hrtime.bigint() - t) / 1e6);

      const svc = await newService();
      t = process.hrtime.bigint();
      await svc.ensureImage(ref, 'IfNotPresent');
      pullMs.push(Number(process.hrtime.bigint() - t) / 1e6);

      const svc2 = await newService();
      t = process.hrtime.bigint();
      const info = await svc2.ensureImage(ref, 'IfNotPresent');
      await svc2.snapshotter.ensureLayers(info);
      pullUnpackMs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }

    // The second pull of a cached image: requests seen by the proxy.
    const cached = await newService();
    await cached.ensureImage(ref, 'IfNotPresent');
    requests.length = 0;
    let t = process.hrtime.bigint();
    await cached.ensureImage(ref, 'Always');
    const secondMs = Number(process.hrtime.bigint() - t) / 1e6;
    const secondAlways = requests.filter((r) => r.includes('/blobs/')).length;
    const secondAlwaysAll = requests.length;
    requests.length = 0;
    await cached.ensureImage(ref, 'IfNotPresent');
    const secondIfNotPresent = requests.length;

    const curl = median(curlMs);
    const pull = median(pullMs);
    const pullUnpack = median(pullUnpackMs);
    const bytes = img.layers.reduce((a, l) => a + l.size, 0);
    return {
      command: 'npm run bench -- image-pull',
      rows: [
        { metric: 'pull (verified into the content store)', value: pull, baseline: curl, baselineLabel: 'curl of the same 4 objects', unit: 'ms', ratio: pull / curl, target: '≤ 5× curl', pass: pull / curl <= 5 },
        { metric: 'pull + unpack (snapshots with whiteouts)', value: pullUnpack, baseline: curl, baselineLabel: 'curl of the same 4 objects', unit: 'ms', ratio: pullUnpack / curl, target: '≤ 5× curl', pass: pullUnpack / curl <= 5 },
        { metric: 'second pull, policy Always: blob requests', value: secondAlways, target: '0', pass: secondAlways === 0 },
        { metric: 'second pull, policy Always: all requests', value: secondAlwaysAll, target: '1 (the manifest)', pass: secondAlwaysAll === 1 },
        { metric: 'second pull, policy Always: time', value: secondMs, unit: 'ms' },
        { metric: 'second pull, policy IfNotPresent: requests', value: secondIfNotPresent, target: '0', pass: secondIfNotPresent === 0 },
      ],
      notes:
        `Test image: ${(bytes / 1e6).toFixed(2)} MB in 2 gzip layers (busybox-static). Medians of ${RUNS} runs, each pull into a fresh state dir; ` +
        `registry = Debian docker-registry on loopback behind a counting proxy that curl and the puller both use. ` +
        `Whiteouts/xattrs via ${native.source === 'native' ? 'the native addon' : 'the child-process fallback (mknod, python3) — the native addon was not built'}.`,
    };
  } finally {
    proxy.close();
    registry.kill('SIGTERM');
    await new Promise((r) => (registry.exitCode !== null ? r() : registry.once('exit', r)));
    rmSync(work, { recursive: true, force: true });
  }
}
