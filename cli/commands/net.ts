// flotctl net check [--image IMG] [--timeout 120s] [--count N] [--keep]: the
// network self-test. One probe pod per Ready node (bound to it directly, as a
// DaemonSet's pods are), then every probe pings every probe (every node to every
// node, itself included) and a matrix of reachability and RTT is printed. Exit
// code 1 when any pair fails. The probe pods are deleted afterwards.
import type { Command } from 'commander';
import type { Namespace, Node, Pod, Status } from '../../api/index.js';
import { EXEC_CONTENT_TYPE, exitCodeOf } from '../../api/exec-framing.js';
import { action, type CliEnv } from '../command.js';
import { ApiStatusError, CliError } from '../errors.js';
import { formatTable } from '../printers/tabwriter.js';
import { addGlobalFlags, parseDuration, type Io, type Session } from '../session.js';
import { execQuery, playExecStream } from './exec.js';

export const NETCHECK_NAMESPACE = 'flotilla-netcheck';
const LABEL = { app: 'flotilla-netcheck' };

interface NetCheckOptions {
  image?: string;
  timeout?: string;
  count?: string;
  keep?: boolean;
}

export interface PairResult {
  from: string;
  to: string;
  ok: boolean;
  /** Average RTT in ms when reachable. */
  rttMs?: number;
  error?: string;
}

/** Reads busybox/iputils ping output: packets received and the average RTT. */
export function parsePing(out: string): { received: number; avgMs?: number } {
  const received = Number(/(\d+) (?:packets )?received/.exec(out)?.[1] ?? 0);
  const rtt = /(?:round-trip|rtt) min\/avg\/max(?:\/mdev)? = [\d.]+\/([\d.]+)\//.exec(out);
  return { received, ...(rtt ? { avgMs: Number(rtt[1]) } : {}) };
}

/** The matrix as rows: FROM \ TO, one column per node. */
export function renderMatrix(nodes: string[], results: PairResult[]): string {
  const cell = (from: string, to: string) => {
    const r = results.find((x) => x.from === from && x.to === to);
    if (!r) return '-';
    return r.ok ? `ok ${r.rttMs !== undefined ? `${r.rttMs.toFixed(3)}ms` : ''}`.trim() : 'FAIL';
  };
  return formatTable(['FROM \\ TO', ...nodes], nodes.map((from) => [from, ...nodes.map((to) => cell(from, to))]));
}

/** A DNS-label pod name for a node name (dots and other characters become dashes). */
export function probeName(node: string): string {
  return `netcheck-${node.replace(/[^a-z0-9-]/g, '-')}`.slice(0, 63).replace(/-+$/, '');
}

function captureIo(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
    readStdin: async () => '',
  };
  return io;
}

async function execCapture(session: Session, pod: string, command: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captureIo();
  const body = await session.client.stream('POST', `/api/v1/namespaces/${NETCHECK_NAMESPACE}/pods/${encodeURIComponent(pod)}/exec`, {
    query: execQuery(command, {}),
    accept: EXEC_CONTENT_TYPE,
  });
  const status: Status = await playExecStream(body, io);
  const code = exitCodeOf(status);
  if (code === undefined) throw new ApiStatusError(status, status.code || 500);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

async function ensureNamespace(session: Session): Promise<void> {
  const ns: Namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NETCHECK_NAMESPACE } };
  try {
    await session.client.requestJson('POST', '/api/v1/namespaces', { body: ns, contentType: 'application/json' });
  } catch (e) {
    if (!(e instanceof ApiStatusError) || e.status.reason !== 'AlreadyExists') throw e;
  }
}

function probePod(node: string, image: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: probeName(node), namespace: NETCHECK_NAMESPACE, labels: { ...LABEL } },
    spec: {
      nodeName: node,
      tolerations: [{ operator: 'Exists' }],
      terminationGracePeriodSeconds: 0,
      restartPolicy: 'Never',
      containers: [{ name: 'probe', image, command: ['sleep', '600'], resources: { requests: { cpu: '10m', memory: '8Mi' } } }],
    },
  };
}

const podsPath = `/api/v1/namespaces/${NETCHECK_NAMESPACE}/pods`;

async function deleteProbes(session: Session, names: string[]): Promise<void> {
  await Promise.all(
    names.map((n) =>
      session.client.requestJson('DELETE', `${podsPath}/${n}`, { query: { gracePeriodSeconds: 0 } }).catch((e) => {
        if (!(e instanceof ApiStatusError) || e.status.reason !== 'NotFound') throw e;
      }),
    ),
  );
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
    }),
  );
  return out;
}

export async function runNetCheck(session: Session, opts: NetCheckOptions): Promise<number> {
  const image = opts.image ?? 'busybox:1.35';
  const timeoutMs = opts.timeout ? parseDuration(opts.timeout, '--timeout') : 120_000;
  const count = opts.count === undefined ? 3 : Number(opts.count);
  if (!Number.isInteger(count) || count < 1 || count > 100) throw new CliError(`invalid --count "${opts.count}": must be an integer in 1..100`);
  const io = session.io;

  const nodes = (await session.client.requestJson<{ items: Node[] }>('GET', '/api/v1/nodes')).items;
  const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((n) => n.metadata.name!).sort();
  const notReady = nodes.map((n) => n.metadata.name!).filter((n) => !ready.includes(n));
  if (ready.length === 0) throw new CliError('no Ready nodes to check');
  if (notReady.length > 0) io.err(`skipping nodes that are not Ready: ${notReady.join(', ')}\n`);

  await ensureNamespace(session);
  const names = ready.map(probeName);
  // Leftovers of an interrupted run would carry an old IP or spec: start afresh.
  await deleteProbes(session, names);
  await waitFor(session, timeoutMs, 'old probe pods to go', async () => {
    const l = await session.client.requestJson<{ items: Pod[] }>('GET', podsPath);
    return l.items.filter((p) => names.includes(p.metadata.name!)).length === 0;
  });
  try {
    for (const n of ready) await session.client.requestJson('POST', podsPath, { body: probePod(n, image), contentType: 'application/json' });
    io.err(`waiting for ${ready.length} probe pods (${image}) to run…\n`);
    let ips = new Map<string, string>();
    await waitFor(session, timeoutMs, 'the probe pods to run', async () => {
      const l = await session.client.requestJson<{ items: Pod[] }>('GET', podsPath);
      const mine = l.items.filter((p) => names.includes(p.metadata.name!));
      const failed = mine.find((p) => p.status?.phase === 'Failed' || p.status?.containerStatuses?.[0]?.state?.waiting?.reason?.match(/ErrImagePull|ImagePullBackOff|CreateContainerError/));
      if (failed) {
        const w = failed.status?.containerStatuses?.[0]?.state?.waiting;
        throw new CliError(`probe pod ${failed.metadata.name} on ${failed.spec.nodeName} cannot run: ${w ? `${w.reason}: ${w.message ?? ''}` : failed.status?.reason ?? 'Failed'}`);
      }
      ips = new Map(mine.filter((p) => p.status?.phase === 'Running' && p.status.podIP).map((p) => [p.spec.nodeName!, p.status!.podIP!]));
      return ips.size === ready.length;
    });

    const pairs = ready.flatMap((from) => ready.map((to) => ({ from, to })));
    const results = await mapLimit(pairs, 4, async ({ from, to }): Promise<PairResult> => {
      try {
        const r = await execCapture(session, probeName(from), ['ping', '-c', String(count), '-i', '0.2', '-W', '2', ips.get(to)!]);
        const p = parsePing(r.stdout);
        return { from, to, ok: r.code === 0 && p.received > 0, ...(p.avgMs !== undefined ? { rttMs: p.avgMs } : {}), ...(r.code !== 0 ? { error: (r.stderr || r.stdout).trim().split('\n').pop() } : {}) };
      } catch (e) {
        return { from, to, ok: false, error: (e as Error).message };
      }
    });

    io.out(`pod-to-pod reachability (ping -c ${count}, average RTT):\n`);
    io.out(renderMatrix(ready, results));
    const good = results.filter((r) => r.ok).length;
    io.out(`\n${good}/${results.length} pairs reachable\n`);
    for (const r of results.filter((x) => !x.ok)) io.out(`  ${r.from} (${ips.get(r.from)}) -> ${r.to} (${ips.get(r.to)}): ${r.error ?? 'no reply'}\n`);
    return good === results.length && notReady.length === 0 ? 0 : 1;
  } finally {
    if (!opts.keep) await deleteProbes(session, names).catch((e) => io.err(`could not delete the probe pods: ${(e as Error).message}\n`));
  }
}

async function waitFor(session: Session, timeoutMs: number, what: string, check: () => Promise<boolean>): Promise<void> {
  const until = session.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (session.now() > until) throw new CliError(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function register(program: Command, env: CliEnv): void {
  const net = program.command('net').description('network tools: net check runs a pod-to-pod matrix across all nodes');
  addGlobalFlags(
    net
      .command('check')
      .description('start a probe pod on every Ready node and ping every probe from every probe; prints reachability and RTT per pair')
      .option('--image <image>', 'probe image (needs sleep and ping)', 'busybox:1.35')
      .option('--count <n>', 'pings per pair', '3')
      .option('--timeout <duration>', 'how long to wait for the probe pods', '120s')
      .option('--keep', 'leave the probe pods running afterwards'),
  ).action(action<NetCheckOptions>(env, (s, o) => runNetCheck(s, o)));
}
