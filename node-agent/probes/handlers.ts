// The handlers probes and lifecycle hooks share: exec (through the runtime,
// into the running container), httpGet, tcpSocket and grpc (from the agent,
// which runs in the node's network namespace and reaches pod IPs over the
// node's bridge, as the kubelet does). Each returns a result with the
// kubelet's words for a failure.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Container, HTTPGetAction, IntOrString, Pod, ProbeHandler, LifecycleHandler } from '../../api/index.js';
import type { PodRuntime } from '../pod-runtime.js';
import { grpcHealthCheck } from './grpc-health.js';

import type { ProbeResult } from './result.js';

export type { ProbeResult };

/** What a handler acts on. */
export interface HandlerTarget {
  pod: Pod;
  container: Container;
  /** Where httpGet/tcpSocket/grpc connect unless they name a host: the pod IP (the node IP for hostNetwork pods). */
  host: string;
  /** Runs COMMAND in the container; resolves to its exit code and output (stdout then stderr). */
  exec(command: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }>;
}

/** Exec through a PodRuntime, killed when the timeout passes. */
export function runtimeExec(runtime: PodRuntime, pod: Pod, container: string): HandlerTarget['exec'] {
  return async (command, timeoutMs) => {
    const out: Buffer[] = [];
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(new Error('timeout')), timeoutMs);
    try {
      const exitCode = await runtime.exec(pod, container, {
        command,
        onStdout: (b) => out.push(Buffer.from(b)),
        onStderr: (b) => out.push(Buffer.from(b)),
        signal: ac.signal,
      });
      if (ac.signal.aborted) throw new ProbeTimeout(`command ${JSON.stringify(command.join(' '))} timed out`);
      return { exitCode, output: Buffer.concat(out).toString('utf8') };
    } finally {
      clearTimeout(t);
    }
  };
}

export class ProbeTimeout extends Error {}

/** Resolves a port by number or by the name of one of the container's ports. */
export function resolvePort(port: IntOrString, c: Container): number {
  if (typeof port === 'number') return port;
  const n = Number(port);
  if (/^\d+$/.test(port) && n >= 1 && n <= 65535) return n;
  const p = c.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`couldn't find port: ${port} in ${c.name}`);
  return p.containerPort;
}

const hostPort = (host: string, port: number) => (net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);

async function execAction(command: string[], t: HandlerTarget, timeoutMs: number): Promise<ProbeResult> {
  try {
    const r = await t.exec(command, timeoutMs);
    return { ok: r.exitCode === 0, message: r.exitCode === 0 ? r.output : r.output.trim() || `command ${JSON.stringify(command.join(' '))} exited with ${r.exitCode}` };
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) };
  }
}

export function httpURL(g: HTTPGetAction, t: HandlerTarget): URL {
  const scheme = (g.scheme ?? 'HTTP').toLowerCase();
  const port = resolvePort(g.port, t.container);
  const path = g.path && g.path !== '' ? (g.path.startsWith('/') ? g.path : `/${g.path}`) : '/';
  return new URL(`${scheme}://${hostPort(g.host || t.host, port)}${path}`);
}

/**
 * An HTTP GET; status 200–399 is success. Redirects are followed as the
 * kubelet follows them: on the same host, up to 10; a redirect to another host
 * is not followed and counts as success.
 */
function httpAction(g: HTTPGetAction, t: HandlerTarget, timeoutMs: number): Promise<ProbeResult> {
  let url: URL;
  try {
    url = httpURL(g, t);
  } catch (e) {
    return Promise.resolve({ ok: false, message: (e as Error).message });
  }
  const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.33', Accept: '*/*' };
  for (const h of g.httpHeaders ?? []) {
    if (h.name.toLowerCase() === 'host') headers.Host = h.value;
    else headers[h.name] = h.value;
  }
  return httpGetOnce(url, headers, Date.now() + timeoutMs, 0);
}

const MAX_REDIRECTS = 10;

function httpGetOnce(url: URL, headers: Record<string, string>, deadline: number, hops: number): Promise<ProbeResult> {
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult | Promise<ProbeResult>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = lib.get(url, { headers, agent: false, ...(url.protocol === 'https:' ? { rejectUnauthorized: false } : {}) }, (res) => {
      const code = res.statusCode ?? 0;
      const location = res.headers.location;
      if (code >= 300 && code < 400 && location) {
        let next: URL | undefined;
        try {
          next = new URL(location, url);
        } catch {
          next = undefined;
        }
        if (next && next.hostname === url.hostname && (next.protocol === 'http:' || next.protocol === 'https:')) {
          if (hops >= MAX_REDIRECTS) return finish({ ok: false, message: `Get "${next.href}": stopped after ${MAX_REDIRECTS} redirects` });
          return finish(httpGetOnce(next, headers, deadline, hops + 1));
        }
      }
      // Read (a little of) the body, as the kubelet does, then answer.
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 10_240) body += d;
      });
      res.on('end', () => finish(code >= 200 && code < 400 ? { ok: true, message: body } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` }));
      res.on('error', (e) => finish({ ok: false, message: `Get "${url.href}": ${e.message}` }));
    });
    const timer = setTimeout(
      () => finish({ ok: false, message: `Get "${url.href}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` }),
      Math.max(0, deadline - Date.now()),
    );
    req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, message: `Get "${url.href}": ${dialError(e, url.hostname, Number(url.port || (url.protocol === 'https:' ? 443 : 80)))}` }));
  });
}

/** A connection error in Go's words: `dial tcp 10.0.0.5:80: connect: connection refused`. */
function dialError(e: NodeJS.ErrnoException, host: string, port: number): string {
  const words: Record<string, string> = {
    ECONNREFUSED: 'connect: connection refused',
    EHOSTUNREACH: 'connect: no route to host',
    ENETUNREACH: 'connect: network is unreachable',
    ETIMEDOUT: 'i/o timeout',
    ECONNRESET: 'read: connection reset by peer',
  };
  return `dial tcp ${hostPort(host, port)}: ${(e.code && words[e.code]) || e.message}`;
}

function tcpAction(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, message: `dial tcp ${hostPort(host, port)}: i/o timeout` });
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ok: true, message: '' });
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ ok: false, message: dialError(e, host, port) });
    });
  });
}

/** Runs the one handler of a probe or hook against T, within TIMEOUTMS. */
export async function runHandler(h: ProbeHandler & LifecycleHandler, t: HandlerTarget, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  if (h.exec) return execAction(h.exec.command ?? [], t, timeoutMs);
  if (h.httpGet) return httpAction(h.httpGet, t, timeoutMs);
  if (h.tcpSocket) {
    let port: number;
    try {
      port = resolvePort(h.tcpSocket.port, t.container);
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
    return tcpAction(h.tcpSocket.host || t.host, port, timeoutMs);
  }
  if (h.grpc) return grpcHealthCheck(t.host, h.grpc.port, h.grpc.service ?? '', timeoutMs);
  if (h.sleep) {
    const ms = Math.min(h.sleep.seconds * 1000, timeoutMs);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    return { ok: true, message: '' };
  }
  return { ok: false, message: 'missing probe handler' };
}
