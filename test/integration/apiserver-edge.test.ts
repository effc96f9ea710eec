// The HTTP edge of the API server, over raw TLS sockets as a hostile client
// sends them: requests the router or node's parser refuse (bad percent-encoding,
// unknown methods, broken request lines, oversized headers and bodies) are
// answered as a Kubernetes Status, and a connection is either still usable
// afterwards or the answer said `Connection: close` and the socket ended
// cleanly (never reset). Plus a seeded fuzz of malformed requests over
// keep-alive connections: no 5xx, no reset without `Connection: close`.
import { readFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type StartedController } from '../helpers/controller.js';
import { requireBinaries } from '../helpers/require.js';

let ctl: StartedController;
let ca: Buffer;
let host: string;
let port: number;

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One TLS connection that sends bytes as given and parses HTTP/1.1 responses. */
class RawConn {
  private buf = Buffer.alloc(0);
  ended = false;
  error: (Error & { code?: string }) | undefined;
  private wake: (() => void) | undefined;

  private constructor(readonly socket: TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.poke();
    });
    socket.on('end', () => {
      this.ended = true;
      this.poke();
    });
    socket.on('close', () => {
      this.ended = true;
      this.poke();
    });
    socket.on('error', (e) => {
      this.error = e;
      this.poke();
    });
  }

  static open(): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private wait(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no complete response within the deadline; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`)), Math.max(0, deadline - Date.now()));
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Writes, ignoring a write error (the server may close while a large request is still going out). */
  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(data, () => resolve());
    });
  }

  /** Reads one response (Content-Length, chunked, or until the server closes). */
  async read(timeoutMs = 10_000, head = false): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.tryParse(head);
      if (r) return r;
      if (this.ended || this.error) {
        throw new Error(`connection ${this.error ? `failed (${this.error.code ?? this.error.message})` : 'closed'} before a complete response; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
      }
      await this.wait(deadline);
    }
  }

  /** `head`: the answer to a HEAD, headers only whatever its Content-Length says. */
  private tryParse(head: boolean): RawResponse | undefined {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const rest = this.buf.subarray(end + 4);
    let body: Buffer;
    let used: number;
    if (head) {
      body = Buffer.alloc(0);
      used = 0;
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (rest.length < n) return undefined;
      body = rest.subarray(0, n);
      used = n;
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      let off = 0;
      for (;;) {
        const le = rest.indexOf('\r\n', off);
        if (le < 0) return undefined;
        const size = parseInt(rest.subarray(off, le).toString('latin1'), 16);
        if (rest.length < le + 2 + size + 2) return undefined;
        parts.push(rest.subarray(le + 2, le + 2 + size));
        off = le + 2 + size + 2;
        if (size === 0) break;
      }
      body = Buffer.concat(parts);
      used = off;
    } else {
      if (!this.ended) return undefined;
      body = rest;
      used = rest.length;
    }
    this.buf = this.buf.subarray(end + 4 + used);
    return { status, headers, body: body.toString('utf8') };
  }

  /** Resolves once the server ended the connection; rejects on a reset. */
  async closedCleanly(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && !this.error) await this.wait(deadline);
    if (this.error) throw new Error(`connection reset instead of closed: ${this.error.code ?? this.error.message}`);
  }

  close(): void {
    this.socket.destroy();
  }
}

const auth = () => `Authorization: Bearer ${ctl.token}\r\n`;
const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${auth()}${extra}\r\n`;

/** The Status of a failure as kube-apiserver writes it. */
function expectStatus(r: RawResponse, code: number, reason: string): { message: string } {
  expect(r.status).toBe(code);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  const st = JSON.parse(r.body);
  expect(st).toMatchObject({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, code });
  expect(typeof st.message).toBe('string');
  return st;
}

/** After an answer: the same connection serves the next request, or the answer said Connection: close and the socket ends cleanly. */
async function expectUsableOrClosed(c: RawConn, r: RawResponse): Promise<'reused' | 'closed'> {
  if (/close/i.test(r.headers.connection ?? '')) {
    await c.closedCleanly();
    return 'closed';
  }
  await c.send(get('/api'));
  const next = await c.read();
  expect(next.status).toBe(200);
  expect(JSON.parse(next.body).kind).toBe('APIVersions');
  return 'reused';
}

/** Sends one request on a fresh connection and returns the answer (the connection stays open). */
async function once(raw: string | Buffer): Promise<{ c: RawConn; r: RawResponse }> {
  const c = await RawConn.open();
  await c.send(raw);
  return { c, r: await c.read() };
}

beforeAll(async () => {
  requireBinaries('the API server edge', 'etcd');
  ctl = await startController({ runArgs: ['--no-scheduler'] });
  ca = readFileSync(ctl.caFile);
  const u = new URL(ctl.server);
  host = u.hostname;
  port = Number(u.port);
});

afterAll(async () => {
  await ctl?.stop();
});

describe('[api] errors below the routes are Kubernetes Status objects', () => {
  it('a path with broken percent-encoding (%zz) is a 400 BadRequest Status, and the connection serves the next request', async () => {
    const { c, r } = await once(get('/api/v1/namespaces/%zz'));
    const st = expectStatus(r, 400, 'BadRequest');
    expect(st.message).toContain('%zz');
    expect(await expectUsableOrClosed(c, r)).toBe('reused');
    c.close();
  });

  it('broken percent-encoding in a name of a resource path is a 400 too (not a 500 or fastify JSON)', async () => {
    const { c, r } = await once(get('/api/v1/namespaces/default/configmaps/a%zzb'));
    expectStatus(r, 400, 'BadRequest');
    expect(await expectUsableOrClosed(c, r)).toBe('reused');
    c.close();
  });

  it('an unrouted path is a 404 NotFound Status, and the connection serves the next request', async () => {
    const { c, r } = await once(get('/no/such/thing'));
    const st = expectStatus(r, 404, 'NotFound');
    expect(st.message).toBe('the server could not find the requested resource (GET /no/such/thing)');
    expect(await expectUsableOrClosed(c, r)).toBe('reused');
    c.close();
  });

  it('an unknown method (FOO /api) is a 405 MethodNotAllowed Status with Connection: close, and the socket ends cleanly', async () => {
    const { c, r } = await once(`FOO /api HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`);
    expectStatus(r, 405, 'MethodNotAllowed');
    expect(r.headers.connection).toBe('close');
    await c.closedCleanly();
  });

  it('a method the parser knows but the API does not serve (PROPFIND) is a 405 MethodNotAllowed Status', async () => {
    const { c, r } = await once(`PROPFIND /api/v1/namespaces HTTP/1.1\r\nHost: localhost\r\n${auth()}\r\n`);
    expectStatus(r, 405, 'MethodNotAllowed');
    await expectUsableOrClosed(c, r);
    c.close();
  });

  it('a malformed request line is a 400 BadRequest Status with Connection: close', async () => {
    const { c, r } = await once('GET /api HTTP/9.9 junk\r\n\r\n');
    expectStatus(r, 400, 'BadRequest');
    expect(r.headers.connection).toBe('close');
    await c.closedCleanly();
  });

  it('a header line without a colon is a 400 BadRequest Status with Connection: close', async () => {
    const { c, r } = await once(`GET /api HTTP/1.1\r\nHost: localhost\r\nthis is not a header\r\n${auth()}\r\n`);
    expectStatus(r, 400, 'BadRequest');
    expect(r.headers.connection).toBe('close');
    await c.closedCleanly();
  });

  it('both Content-Length and Transfer-Encoding (request smuggling) is a 400 BadRequest Status with Connection: close', async () => {
    const { c, r } = await once(
      `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    );
    expectStatus(r, 400, 'BadRequest');
    expect(r.headers.connection).toBe('close');
    await c.closedCleanly();
  });

  it('a good request pipelined with a broken one: the good one is answered, then a Status or Connection: close ends the socket cleanly', async () => {
    const c = await RawConn.open();
    await c.send(`${get('/api')}GET /api HTTP/1.1\r\nBad Header Line\r\n\r\n`);
    const first = await c.read();
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body).kind).toBe('APIVersions');
    if (first.headers.connection !== 'close') {
      const second = await c.read();
      expectStatus(second, 400, 'BadRequest');
      expect(second.headers.connection).toBe('close');
    }
    await c.closedCleanly();
  });

  it('a 600 KiB labelSelector is served (200), as Kubernetes allows 1 MiB of headers', async () => {
    const selector = `app in (${Array.from({ length: 90_000 }, (_, i) => `v${String(i).padStart(5, '0')}`).join(',')})`;
    expect(selector.length).toBeGreaterThan(600 * 1024);
    const { c, r } = await once(get(`/api/v1/namespaces/default/configmaps?labelSelector=${encodeURIComponent(selector)}`));
    expect(r.status, r.body.slice(0, 500)).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ kind: 'ConfigMapList', items: [] });
    expect(await expectUsableOrClosed(c, r)).toBe('reused');
    c.close();
  });

  it('a name of 200 KiB in a path gets a short 4xx message, not a router error', async () => {
    const name = 'n'.repeat(200 * 1024);
    const { c, r } = await once(get(`/api/v1/namespaces/default/pods/${name}/exec?command=true&stdout=true`));
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    const st = JSON.parse(r.body);
    expect(st.kind).toBe('Status');
    expect(r.body.length).toBeLessThan(4096);
    c.close();
  });

  it('2 MiB of headers is a 431 Status with Connection: close, read by the client before the socket ends cleanly', async () => {
    const c = await RawConn.open();
    const big = `X-Big: ${'b'.repeat(2 * 1024 * 1024)}\r\n`;
    void c.send(`GET /api HTTP/1.1\r\nHost: localhost\r\n${auth()}${big}\r\n`);
    const r = await c.read();
    const st = expectStatus(r, 431, 'RequestEntityTooLarge');
    expect(st.message).toMatch(/header/i);
    expect(r.headers.connection).toBe('close');
    await c.closedCleanly();
  });

  it('a body over the 3 MiB limit is a 413 RequestEntityTooLarge Status the client reads while still sending, without a reset', async () => {
    const c = await RawConn.open();
    const size = 8 * 1024 * 1024;
    await c.send(
      `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
    );
    // keep sending in the background; the answer comes before the body is done
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const sending = (async () => {
      while (sent < size && !c.socket.destroyed && !c.ended) {
        await c.send(chunk);
        sent += chunk.length;
      }
    })();
    const r = await c.read(20_000);
    const st = expectStatus(r, 413, 'RequestEntityTooLarge');
    expect(st.message).toContain('3145728');
    await expectUsableOrClosed(c, r);
    await sending;
    c.close();
  });

  it('a body far over the limit (40 MiB) is a 413 Status with Connection: close, and the socket ends cleanly while the client still sends', async () => {
    const c = await RawConn.open();
    const size = 40 * 1024 * 1024;
    await c.send(
      `PUT /api/v1/namespaces/default/configmaps/big HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
    );
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const sending = (async () => {
      for (let sent = 0; sent < size && !c.socket.destroyed && !c.ended; sent += chunk.length) await c.send(chunk);
    })();
    const r = await c.read(30_000);
    expectStatus(r, 413, 'RequestEntityTooLarge');
    expect(r.headers.connection).toBe('close');
    await c.closedCleanly(10_000);
    await sending;
  });

  it('a chunked body over the limit is a 413 Status too', async () => {
    const c = await RawConn.open();
    await c.send(
      `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const piece = Buffer.alloc(256 * 1024, 0x20);
    const sending = (async () => {
      for (let i = 0; i < 20 && !c.socket.destroyed && !c.ended; i++) await c.send(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
      await c.send('0\r\n\r\n');
    })();
    const r = await c.read(20_000);
    expectStatus(r, 413, 'RequestEntityTooLarge');
    await expectUsableOrClosed(c, r);
    await sending;
    c.close();
  });

  it('a create with a 1 MiB name is a 4xx whose message is short (the name cut, with its length), never [object Object]', async () => {
    const name = 'x'.repeat(1024 * 1024);
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: 'b' } });
    const { c, r } = await once(
      `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    const st = expectStatus(r, 422, 'Invalid');
    expect(r.body.length).toBeLessThan(4096);
    expect(st.message).toContain('...');
    expect(st.message).toContain(String(name.length));
    expect(st.message).not.toContain('[object Object]');
    expect(st.message).toMatch(/^ConfigMap "x{256}\.\.\." \(1048576 characters\) is invalid: metadata\.name: /);
    expect(await expectUsableOrClosed(c, r)).toBe('reused');
    c.close();
  });

  it('an object where a name belongs is reported as JSON, not [object Object]', async () => {
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: { a: 1 } } });
    const { c, r } = await once(
      `POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: localhost\r\n${auth()}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect(r.body).not.toContain('[object Object]');
    c.close();
  });
});

/** mulberry32: a small seeded PRNG, so a failing fuzz case is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One malformed (or odd) request, built from the PRNG. */
function fuzzRequest(rand: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const method = pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'FOO', 'PROPFIND', 'get', 'G ET', 'TRACE', 'CONNECT']);
  const path = pick([
    '/api/v1/namespaces/%zz',
    '/api/v1/namespaces/default/configmaps/%',
    '/api/v1/namespaces/default/configmaps/a%2',
    '/api/v1/namespaces/default/pods/%c0%af',
    '/apis/%ff/v1',
    '/apis/apps/v1/namespaces/default/deployments/%E0%A4%A',
    '/api/v1//namespaces',
    '/api/v1/namespaces/default/configmaps?limit=abc',
    '/api/v1/namespaces/default/configmaps?watch=maybe',
    '/api/v1/namespaces/default/configmaps?labelSelector=%zz',
    '/api/v1/namespaces/default/configmaps?labelSelector=a%3D%3D%3Db',
    '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3D%3D',
    '/api/v1/nodes/x/proxy',
    '/../../etc/passwd',
    '*',
    '/api/v1/namespaces/default/pods/x/binding',
    `/api/v1/namespaces/${'n'.repeat(Math.floor(rand() * 5000))}/configmaps`,
    '/api/v1/namespaces/default/configmaps',
  ]);
  const contentType = pick(['application/json', 'application/yaml', 'text/x-nonsense', 'application/json; charset=%%%', '', 'multipart/form-data; boundary=x', 'application/merge-patch+json', 'application/vnd.kubernetes.protobuf']);
  const body = pick(['{"metadata":{"name":', '{"kind":"ConfigMap","metadata":{"name":"x"', '[1,2', '{"a":', 'kind: [', '\u0000\u0001\u0002', '{"metadata":{"name":{"a":{}}}}', '{}', '', 'null', '{"metadata":{"name":"ok-name"},"data":{"k":1}}']);
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: localhost', `Authorization: Bearer ${ctl.token}`];
  if (contentType) lines.push(`Content-Type: ${contentType}`);
  if (rand() < 0.1) lines.push('Bad Header Line');
  if (rand() < 0.1) lines.push('Content-Length: -1');
  const withBody = method !== 'GET' && method !== 'HEAD';
  if (withBody) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${withBody ? body : ''}`;
}

describe('[api] fuzz: malformed requests over keep-alive connections', () => {
  it('300 seeded malformed requests: no 5xx, every error a Status, and a connection is reused or closed after Connection: close, never reset', async () => {
    const rand = prng(20);
    const seen = new Map<number, number>();
    let c = await RawConn.open();
    for (let i = 0; i < 300; i++) {
      const req = fuzzRequest(rand);
      const where = `request ${i}: ${JSON.stringify(req.slice(0, 200))}`;
      await c.send(req);
      let r: RawResponse;
      try {
        r = await c.read(10_000, req.startsWith('HEAD '));
      } catch (e) {
        throw new Error(`${where}: ${(e as Error).message}`);
      }
      seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
      expect(r.status, where).toBeLessThan(500);
      if (r.status >= 400 && !req.startsWith('HEAD')) {
        expect(r.headers['content-type'], where).toMatch(/^application\/json/);
        const st = JSON.parse(r.body);
        expect(st, where).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: r.status });
        expect(st.message, where).not.toContain('[object Object]');
      }
      if (/close/i.test(r.headers.connection ?? '')) {
        try {
          await c.closedCleanly();
        } catch (e) {
          throw new Error(`${where}: ${(e as Error).message}`);
        }
        c = await RawConn.open();
      } else if (c.ended || c.error) {
        throw new Error(`${where}: the connection ${c.error ? `was reset (${c.error.code})` : 'closed'} without Connection: close`);
      }
    }
    c.close();
    // the fuzz reached the parser, the router and the handlers alike
    expect([...seen.keys()].some((s) => s === 400)).toBe(true);
    expect([...seen.keys()].some((s) => s === 404)).toBe(true);
    expect([...seen.keys()].some((s) => s === 405)).toBe(true);
  });
});
