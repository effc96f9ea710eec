#!/usr/bin/env node
// Builds Flotilla's test image from Debian's busybox-static as an OCI image
// layout directory (optionally also as a tar): two gzip layers and a config.
// Deterministic: fixed mtimes and owners, sorted entries, gzip without a
// timestamp, so the same busybox binary always gives the same digests.
//
//   layer 1: /bin/busybox, applet symlinks (sh ls cat echo sleep httpd wget
//            ping …), a hardlink, /etc files, /www/index.html, /opaque/{a,b},
//            a file owned by uid/gid 1000
//   layer 2: deletes /etc/removed-by-layer2 (.wh. whiteout), adds
//            /etc/added-by-layer2, makes /opaque opaque (.wh..wh..opq) and
//            adds /opaque/from-layer2
//   config:  Entrypoint ["/bin/sh","-c"], Cmd [a shell line], Env, WorkingDir
//
// Usage: node hack/test-image.mjs OUT_DIR [--name NAME] [--tar FILE.tar] [--push HOST:PORT/REPO:TAG
//          [--username USER --password-file FILE]]
//   e.g. node hack/test-image.mjs /tmp/img --name localhost/flotilla/busybox:test
//        node hack/test-image.mjs /tmp/img --push 127.0.0.1:6446/library/busybox:1.35 \
//          --username flotilla-push --password-file /var/lib/flotilla-lab/flt/registry/push-password
// --push uploads it over plain HTTP with the compiled image store (dist/, from `npm run build`),
// as USER with the password in FILE when the registry asks (Basic, or a token server's Bearer);
// the password comes from a file so that it never shows in `ps`.
// Prints a JSON summary (digests, sizes, diffIDs) on stdout.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';

// The static busybox binary to put in the image (Debian package busybox-static).
const BUSYBOX = process.env.BUSYBOX ?? '/bin/busybox';
const DEFAULT_NAME = 'localhost/flotilla/busybox:test';
const APPLETS = [
  'sh', 'ash', 'ls', 'cat', 'echo', 'sleep', 'httpd', 'wget', 'ping', 'env', 'id', 'true', 'false', 'mkdir', 'rm',
  'test', 'ps', 'hostname', 'ip', 'nc', 'grep', 'sed', 'head', 'tail', 'wc', 'touch', 'chmod', 'kill', 'date',
  'uname', 'printf', 'stat', 'readlink', 'mount', 'ifconfig', 'nslookup', 'which', 'seq', 'find', 'dd', 'df',
  'top', 'whoami', 'cp', 'mv', 'ln', 'pwd', 'tr', 'sort', 'uniq', 'vi', 'xargs', 'yes', 'awk', 'expr', 'cut', 'tee',
  'basename', 'dirname', 'timeout', 'chown', 'sysctl',
];
const EPOCH = new Date(0);

function sha256(buf) {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

/** A ustar archive from entries {path, type, mode, uid, gid, body, linkpath}, in the given order. */
export function tarArchive(entries) {
  const blocks = [];
  for (const e of entries) {
    const body = e.body ? Buffer.from(e.body) : Buffer.alloc(0);
    const header = new tar.Header({
      path: e.path,
      type: e.type ?? 'File',
      mode: e.mode ?? (e.type === 'Directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: e.uid ? '' : 'root',
      gname: e.gid ? '' : 'root',
      size: e.type === 'File' || e.type === undefined ? body.length : 0,
      mtime: EPOCH,
      linkpath: e.linkpath ?? '',
      devmaj: e.devmaj ?? 0,
      devmin: e.devmin ?? 0,
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (body.length > 0 && (e.type === 'File' || e.type === undefined)) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const dir = (path, mode = 0o755, owner = 0) => ({ path: `${path}/`, type: 'Directory', mode, uid: owner, gid: owner });
const file = (path, body, mode = 0o644, owner = 0) => ({ path, type: 'File', body, mode, uid: owner, gid: owner });

export function layerEntries() {
  const layer1 = [
    dir('bin'),
    file('bin/busybox', readFileSync(BUSYBOX), 0o755),
    { path: 'bin/busybox-hardlink', type: 'Link', linkpath: 'bin/busybox', mode: 0o755 },
    ...APPLETS.map((a) => ({ path: `bin/${a}`, type: 'SymbolicLink', linkpath: 'busybox', mode: 0o777 })),
    dir('dev'),
    dir('etc'),
    file('etc/flotilla-release', 'flotilla test image\n'),
    file('etc/group', 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n'),
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
    file('etc/removed-by-layer2', 'this file is deleted by layer 2\n'),
    dir('home'),
    dir('home/user', 0o750, 1000),
    file('home/user/owned-by-1000', 'uid 1000\n', 0o640, 1000),
    dir('opaque'),
    file('opaque/from-layer1-a', 'hidden by the opaque directory of layer 2\n'),
    file('opaque/from-layer1-b', 'hidden by the opaque directory of layer 2\n'),
    dir('proc'),
    dir('root', 0o700),
    dir('sys'),
    dir('tmp', 0o1777),
    dir('www'),
    file('www/index.html', '<h1>flotilla test image</h1>\n'),
  ];
  const layer2 = [
    dir('etc'),
    file('etc/.wh.removed-by-layer2', ''),
    file('etc/added-by-layer2', 'added by layer 2\n'),
    dir('opaque'),
    file('opaque/.wh..wh..opq', ''),
    file('opaque/from-layer2', 'only this survives in /opaque\n'),
  ];
  return [layer1, layer2];
}

export function buildTestImage(outDir, name = DEFAULT_NAME) {
  const blobs = join(outDir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (buf) => {
    const d = sha256(buf);
    writeFileSync(join(blobs, d.slice(7)), buf);
    return d;
  };
  const layers = layerEntries().map((entries) => {
    const raw = tarArchive(entries);
    const gz = gzipSync(raw, { level: 9 });
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length, diffId: sha256(raw) };
  });
  const config = {
    created: EPOCH.toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FLOTILLA_TEST_IMAGE=1'],
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo flotilla test image; exec sleep 3600'],
      WorkingDir: '/',
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: [
      { created: EPOCH.toISOString(), created_by: 'hack/test-image.mjs: busybox, applets, files' },
      { created: EPOCH.toISOString(), created_by: 'hack/test-image.mjs: whiteout, opaque dir, new file' },
    ],
  };
  const configBuf = Buffer.from(JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(configBuf), size: configBuf.length },
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
  };
  const manifestBuf = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = put(manifestBuf);
  writeFileSync(join(outDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(outDir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: manifest.mediaType,
          digest: manifestDigest,
          size: manifestBuf.length,
          annotations: { 'org.opencontainers.image.ref.name': name, 'io.containerd.image.name': name },
        },
      ],
    }),
  );
  return { dir: outDir, name, manifestDigest, manifestSize: manifestBuf.length, configDigest: manifest.config.digest, layers };
}

/** Push credentials from --username and --password-file (both or neither; one trailing newline of the file is not part of the password). */
function pushCredentials(username, passwordFile, fail) {
  if (username === undefined && passwordFile === undefined) return undefined;
  if (username === undefined || passwordFile === undefined) fail('--username and --password-file go together');
  let password;
  try {
    password = readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    fail(`--password-file ${passwordFile}: ${e.message}`);
  }
  if (password === '') fail(`--password-file ${passwordFile} is empty`);
  return { username, password };
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const args = process.argv.slice(2);
  const VALUED = ['--name', '--tar', '--push', '--username', '--password-file'];
  const out = args.find((a, i) => !a.startsWith('--') && !VALUED.includes(args[i - 1] ?? ''));
  const fail = (msg) => {
    process.stderr.write(`test-image: ${msg}\n`);
    process.exit(2);
  };
  if (!out) fail('usage: node hack/test-image.mjs OUT_DIR [--name NAME] [--tar FILE.tar] [--push HOST:PORT/REPO:TAG [--username USER --password-file FILE]]');
  const opt = (k) => {
    const i = args.indexOf(k);
    if (i < 0) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) fail(`${k} needs a value`);
    return v;
  };
  const credentials = pushCredentials(opt('--username'), opt('--password-file'), fail);
  const summary = buildTestImage(out, opt('--name') ?? DEFAULT_NAME);
  const tarFile = opt('--tar');
  if (tarFile) {
    tar.c({ file: tarFile, cwd: out, sync: true, portable: true, mtime: EPOCH }, ['oci-layout', 'index.json', 'blobs']);
    summary.tar = tarFile;
  }
  const pushRef = opt('--push');
  if (pushRef) {
    const dist = new URL('../dist/node-agent/images/index.js', import.meta.url);
    const images = await import(dist.href).catch(() => {
      process.stderr.write('test-image: --push needs the compiled tree (npm run build)\n');
      process.exit(1);
    });
    const host = pushRef.split('/')[0];
    const client = new images.RegistryClient({ insecureRegistries: [host], ...(credentials ? { credentials: (r) => (r === host ? credentials : undefined) } : {}) });
    const pushed = await images.pushImage(client, images.openLayout(out), undefined, pushRef).catch((e) => {
      process.stderr.write(`test-image: push to ${pushRef} failed: ${e.message}\n`);
      process.exit(1);
    });
    summary.pushed = { ref: pushRef, uploaded: pushed.uploaded.length, skipped: pushed.skipped.length };
  }
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
}
