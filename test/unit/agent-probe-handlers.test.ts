// The probe handlers against real sockets on loopback: httpGet (status codes,
// redirects not followed, headers, named ports, HTTPS without certificate
// checks), tcpSocket, grpc health (SERVING, NOT_SERVING, a server without the
// health service), exec through a stand-in, and the kubelet's words for failures.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container, Pod } from '../../api/index.js';
import { HEALTH_SERVICE, runHandler, type HandlerTarget } from '../../node-agent/probes/index.js';

const seen: http.IncomingHttpHeaders[] = [];
let server: http.Server;
let port: number;
let tlsServer: https.Server;
let tlsPort: number;
let grpcServer: grpc.Server;
let grpcPort: number;
let plainGrpc: grpc.Server;
let plainGrpcPort: number;
let tmp: string;

function target(c: Partial<Container> = {}, exec?: HandlerTarget['exec']): HandlerTarget {
  return {
    pod: { metadata: { name: 'p', namespace: 'default', uid: 'u' }, spec: { containers: [] } } as unknown as Pod,
    container: { name: 'c', image: 'busybox', ports: [{ name: 'web', containerPort: port }], ...c },
    host: '127.0.0.1',
    exec: exec ?? (async () => ({ exitCode: 0, output: '' })),
  };
}

const listen = (s: net.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push(req.headers);
    if (req.url === '/ok') res.writeHead(200).end('fine');
    else if (req.url === '/redirect') res.writeHead(302, { Location: 'http://localhost:1/elsewhere' }).end();
    else if (req.url === '/here') res.writeHead(301, { Location: '/broken' }).end();
    else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 3_000);
    else res.writeHead(500).end('broken');
  });
  port = await listen(server);
  tmp = mkdtempSync(join(tmpdir(), 'flotilla-probe-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=probe', '-days', '1', '-keyout', join(tmp, 'k.pem'), '-out', join(tmp, 'c.pem')], { stdio: 'ignore' });
  tlsServer = https.createServer({ key: readFileSync(join(tmp, 'k.pem')), cert: readFileSync(join(tmp, 'c.pem')) }, (_req, res) => res.writeHead(204).end());
  tlsPort = await listen(tlsServer);
  grpcServer = new grpc.Server();
  grpcServer.addService(HEALTH_SERVICE, {
    check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      call.request.service === 'missing' ? cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' }) : cb(null, { status: call.request.service === 'down' ? 'NOT_SERVING' : 'SERVING' }),
  });
  grpcPort = await new Promise<number>((r, j) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
  plainGrpc = new grpc.Server();
  plainGrpcPort = await new Promise<number>((r, j) => plainGrpc.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? j(e) : r(p))));
});

afterAll(() => {
  server?.close();
  tlsServer?.close();
  grpcServer?.forceShutdown();
  plainGrpc?.forceShutdown();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('[agent] probe handlers', () => {
  it('httpGet: 200–399 is success, other codes fail with the status code; redirects are followed on the same host only', async () => {
    expect(await runHandler({ httpGet: { path: '/ok', port: 'web' } }, target(), 1000)).toEqual({ ok: true, message: 'fine' });
    // To another host: not followed, a success (as the kubelet does).
    expect((await runHandler({ httpGet: { path: '/redirect', port } }, target(), 1000)).ok).toBe(true);
    expect(await runHandler({ httpGet: { path: '/here', port } }, target(), 1000)).toEqual({ ok: false, message: 'HTTP probe failed with statuscode: 500' });
    expect(await runHandler({ httpGet: { path: '/broken', port } }, target(), 1000)).toEqual({ ok: false, message: 'HTTP probe failed with statuscode: 500' });
  });

  it('httpGet sends the probe headers, a Host header override, and the kube-probe user agent', async () => {
    seen.length = 0;
    await runHandler({ httpGet: { path: '/ok', port, httpHeaders: [{ name: 'X-Probe', value: 'yes' }, { name: 'Host', value: 'web.example' }] } }, target(), 1000);
    expect(seen[0]).toMatchObject({ 'x-probe': 'yes', host: 'web.example' });
    expect(seen[0]!['user-agent']).toMatch(/^kube-probe\//);
  });

  it('httpGet times out at timeoutSeconds; a closed port is the dial error; an unknown port name fails', async () => {
    const t0 = Date.now();
    const slow = await runHandler({ httpGet: { path: '/slow', port } }, target(), 300);
    expect(slow.ok).toBe(false);
    expect(slow.message).toContain('context deadline exceeded');
    expect(Date.now() - t0).toBeLessThan(2_000);
    const closed = await runHandler({ httpGet: { path: '/', port: 1 } }, target(), 1000);
    expect(closed).toEqual({ ok: false, message: 'Get "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused' });
    expect(await runHandler({ httpGet: { path: '/', port: 'nope' } }, target(), 1000)).toEqual({ ok: false, message: "couldn't find port: nope in c" });
  });

  it('httpGet over HTTPS skips certificate checks, as the kubelet does', async () => {
    expect((await runHandler({ httpGet: { path: '/', port: tlsPort, scheme: 'HTTPS' } }, target(), 2000)).ok).toBe(true);
  });

  it('tcpSocket succeeds when the port accepts and fails with the dial error when it does not', async () => {
    expect((await runHandler({ tcpSocket: { port: 'web' } }, target(), 1000)).ok).toBe(true);
    expect(await runHandler({ tcpSocket: { port: 1 } }, target(), 1000)).toEqual({ ok: false, message: 'dial tcp 127.0.0.1:1: connect: connection refused' });
  });

  it('grpc: SERVING is success; NOT_SERVING, errors and a server without the health service fail as the kubelet says', async () => {
    expect((await runHandler({ grpc: { port: grpcPort, service: 'app' } }, target(), 2000)).ok).toBe(true);
    expect(await runHandler({ grpc: { port: grpcPort, service: 'down' } }, target(), 2000)).toEqual({ ok: false, message: 'service unhealthy (responded with "NOT_SERVING")' });
    expect(await runHandler({ grpc: { port: grpcPort, service: 'missing' } }, target(), 2000)).toEqual({ ok: false, message: 'error: health rpc probe failed: unknown service' });
    const unimpl = await runHandler({ grpc: { port: plainGrpcPort } }, target(), 2000);
    expect(unimpl.ok).toBe(false);
    expect(unimpl.message).toMatch(/^error: this server does not implement the grpc health protocol \(grpc\.health\.v1\.Health\)/);
    const closed = await runHandler({ grpc: { port: 1 } }, target(), 500);
    expect(closed).toEqual({ ok: false, message: 'timeout: failed to connect service "127.0.0.1:1" within 0.5s' });
  });

  it('exec: exit 0 is success; otherwise the output is the message', async () => {
    const calls: { cmd: string[]; timeout: number }[] = [];
    const exec: HandlerTarget['exec'] = async (cmd, timeout) => {
      calls.push({ cmd, timeout });
      return cmd[0] === 'true' ? { exitCode: 0, output: '' } : { exitCode: 1, output: "cat: can't open '/x': No such file or directory\n" };
    };
    expect((await runHandler({ exec: { command: ['true'] } }, target({}, exec), 1000)).ok).toBe(true);
    expect(await runHandler({ exec: { command: ['cat', '/x'] } }, target({}, exec), 2000)).toEqual({ ok: false, message: "cat: can't open '/x': No such file or directory" });
    expect(calls.map((c) => c.timeout)).toEqual([1000, 2000]);
  });
});
