// A real local registry for image tests: Debian's docker-registry (the
// distribution v2 registry) on 127.0.0.1 with a free port and its storage in a
// temp dir, the test image built by hack/test-image.mjs, and a small HTTP proxy
// in front of the registry that counts requests, can demand a bearer token
// (with its own token endpoint, as Docker Hub does) and can inject faults.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { REPO_ROOT } from './lab.js';

export interface TestImageSummary {
  dir: string;
  name: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layers: { mediaType: string; digest: string; size: number; diffId: string }[];
  tar?: string;
}

/** Builds the busybox test image (an OCI layout) into `dir` with hack/test-image.mjs. */
export function buildTestImage(dir: string, opts: { name?: string; tar?: string } = {}): TestImageSummary {
  const args = [join(REPO_ROOT, 'hack', 'test-image.mjs'), dir];
  if (opts.name) args.push('--name', opts.name);
  if (opts.tar) args.push('--tar', opts.tar);
  return JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' })) as TestImageSummary;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, timeoutMs: number, child?: ChildProcess, readyStatus = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}`);
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status === readyStatus) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms: ${last}`);
}

export interface LocalRegistry {
  /** host:port */
  host: string;
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

/** A bcrypt hash for an htpasswd file (the registry accepts only bcrypt), made by python3's crypt (libxcrypt). */
export function bcryptHash(password: string): string {
  const hash = execFileSync('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))', password], {
    encoding: 'utf8',
  }).trim();
  if (!hash.startsWith('$2')) throw new Error(`python3 crypt gave no bcrypt hash: ${hash}`);
  return hash;
}

export interface RegistryOptions {
  /** Demand HTTP Basic auth of this user (the registry's htpasswd auth). */
  htpasswd?: { username: string; password: string };
}

/** Starts /usr/bin/docker-registry on 127.0.0.1:<free port> with storage in a temp dir. */
export async function startRegistry(opts: RegistryOptions = {}): Promise<LocalRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-registry-'));
  const port = await freePort();
  const auth: string[] = [];
  if (opts.htpasswd) {
    writeFileSync(join(dir, 'htpasswd'), `${opts.htpasswd.username}:${bcryptHash(opts.htpasswd.password)}\n`);
    auth.push('auth:', '  htpasswd:', '    realm: flotilla-test', `    path: ${join(dir, 'htpasswd')}`);
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    ...auth,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), config);
  const child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const host = `127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`http://${host}/v2/`, 15_000, child, opts.htpasswd ? 401 : 200);
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${stderr}`);
  }
  return { host, dir, pid: child.pid!, stop };
}

export interface ProxiedRequest {
  method: string;
  path: string;
  status: number;
  authorized: boolean;
}

/** What a fault hook returns: answer with this instead of forwarding, or change the blob body. */
export type Fault =
  | { status: number; body?: string; headers?: Record<string, string> }
  | { corrupt: true }
  | { truncate: number }
  /** Send the body at about this many bytes per second (a slow link, for pull progress). */
  | { throttle: number }
  | undefined;

export interface ProxyOptions {
  /** Demand `Authorization: Bearer` on /v2/ paths, issued by the proxy's /token. */
  bearer?: { username?: string; password?: string; service?: string };
  fault?: (req: { method: string; path: string }) => Fault;
}

export interface RegistryProxy {
  host: string;
  requests: ProxiedRequest[];
  tokensIssued: number;
  /** Requests for blob contents (GET /v2/…/blobs/sha256:…) since the last reset. */
  blobGets(): ProxiedRequest[];
  reset(): void;
  close(): Promise<void>;
}

/** An HTTP proxy in front of `upstream` (host:port) on 127.0.0.1:<free port>. */
export async function startRegistryProxy(upstream: string, opts: ProxyOptions = {}): Promise<RegistryProxy> {
  const token = randomBytes(12).toString('hex');
  const state: RegistryProxy = {
    host: '',
    requests: [],
    tokensIssued: 0,
    blobGets: () => state.requests.filter((r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.path)),
    reset: () => {
      state.requests.length = 0;
      state.tokensIssued = 0;
    },
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const record = (status: number, authorized: boolean) => state.requests.push({ method, path: url.pathname, status, authorized });

    if (opts.bearer && url.pathname === '/token') {
      const want = opts.bearer.username ? `Basic ${Buffer.from(`${opts.bearer.username}:${opts.bearer.password ?? ''}`).toString('base64')}` : undefined;
      if (want && req.headers.authorization !== want) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
        record(401, false);
        return;
      }
      state.tokensIssued++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      record(200, true);
      return;
    }
    const authorized = !opts.bearer || req.headers.authorization === `Bearer ${token}`;
    if (!authorized) {
      const repo = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
      const scope = repo ? `,scope="repository:${repo}:pull"` : '';
      res
        .writeHead(401, {
          'content-type': 'application/json',
          'www-authenticate': `Bearer realm="http://${state.host}/token",service="${opts.bearer!.service ?? 'flotilla-test'}"${scope}`,
        })
        .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required', detail: null }] }));
      record(401, false);
      return;
    }
    const fault = opts.fault?.({ method, path: url.pathname });
    if (fault && 'status' in fault) {
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers }).end(fault.body ?? '');
      record(fault.status, true);
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const up = http.request(
      { host: upstream.split(':')[0], port: Number(upstream.split(':')[1]), method, path: req.url, headers },
      (upRes) => {
        record(upRes.statusCode ?? 0, true);
        if (fault && ('corrupt' in fault || 'truncate' in fault) && upRes.statusCode === 200 && method === 'GET') {
          const chunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => chunks.push(c));
          upRes.on('end', () => {
            let body = Buffer.concat(chunks);
            if ('corrupt' in fault) {
              body = Buffer.from(body);
              body[Math.floor(body.length / 2)] ^= 0xff;
              res.writeHead(200, { ...upRes.headers, 'content-length': String(body.length) }).end(body);
            } else {
              // Announce the full length, send less and close: a transfer cut off midway.
              res.writeHead(200, { ...upRes.headers });
              res.write(body.subarray(0, fault.truncate));
              setTimeout(() => res.destroy(), 20);
            }
          });
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (fault && 'throttle' in fault && method === 'GET') {
          // Ten slices a second, each a tenth of the rate.
          const slice = Math.max(1, Math.floor(fault.throttle / 10));
          const queue: Buffer[] = [];
          let ended = false;
          upRes.on('data', (c: Buffer) => queue.push(c));
          upRes.on('end', () => (ended = true));
          const timer = setInterval(() => {
            let budget = slice;
            while (budget > 0 && queue.length > 0) {
              const head = queue[0]!;
              const part = head.subarray(0, budget);
              res.write(part);
              budget -= part.length;
              if (part.length === head.length) queue.shift();
              else queue[0] = head.subarray(part.length);
            }
            if (ended && queue.length === 0) {
              clearInterval(timer);
              res.end();
            }
          }, 100);
          res.on('close', () => clearInterval(timer));
          return;
        }
        upRes.pipe(res);
      },
    );
    up.on('error', (e) => {
      record(502, true);
      res.writeHead(502).end(String(e));
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return state;
}

export interface TarEntrySpec {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  body?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkpath?: string;
  devmaj?: number;
  devmin?: number;
}

/** A ustar archive of exactly these entries, in order (for hostile and hand-made layers). */
export function tarArchive(entries: TarEntrySpec[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'File';
    const body = type === 'File' && e.body !== undefined ? Buffer.from(e.body) : Buffer.alloc(0);
    const header = new Header({
      path: e.path,
      type,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: body.length,
      mtime: new Date(0),
      linkpath: e.linkpath ?? '',
      devmaj: e.devmaj ?? 0,
      devmin: e.devmin ?? 0,
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (body.length > 0) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/**
 * Writes a one-image OCI layout made of the given layers (uncompressed tars,
 * gzipped here) into `dir` and returns its summary, like buildTestImage.
 */
export function buildLayout(dir: string, name: string, layers: Buffer[], config: Record<string, unknown> = {}): TestImageSummary {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (buf: Buffer) => {
    const d = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
    writeFileSync(join(blobs, d.slice(7)), buf);
    return d;
  };
  const ls = layers.map((raw) => {
    const gz = gzipSync(raw);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length, diffId: `sha256:${createHash('sha256').update(raw).digest('hex')}` };
  });
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: ls.map((l) => l.diffId) } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(cfg), size: cfg.length },
      layers: ls.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    }),
  );
  const manifestDigest = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': name } }],
    }),
  );
  return { dir, name, manifestDigest, manifestSize: manifest.length, configDigest: `sha256:${createHash('sha256').update(cfg).digest('hex')}`, layers: ls };
}
