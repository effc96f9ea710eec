// A real NodeRuntime for integration tests: its own state and run dirs in a
// temp dir, its own cgroup parent, a real local registry holding the test
// image, and a cleanup that removes everything (also after a failure).
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Container, type Logger, type Pod, type PodSpec } from '../../api/index.js';
import * as native from '../../native/index.js';
import { NodeRuntime, type NodeRuntimeOptions } from '../../node-agent/node-runtime.js';
import { CgroupManager, openLayout, pushImage, RegistryClient } from '../../node-agent/index.js';
import { mountsUnder } from '../../node-agent/sandbox/sandbox-manager.js';
import { buildTestImage, startRegistry, type LocalRegistry } from './registry.js';
import { requireBinaries, requireRoot } from './require.js';

export interface RuntimeFixture {
  prefix: string;
  tmp: string;
  stateDir: string;
  runDir: string;
  cgroupParent: string;
  registry: LocalRegistry;
  /** The test image in the registry. */
  image: string;
  runtime: NodeRuntime;
  /** Another NodeRuntime on the same dirs (what an agent restart builds). */
  reopen(opts?: Partial<NodeRuntimeOptions>): Promise<NodeRuntime>;
  pod(name: string, containers: Array<Partial<Container> & { name: string }>, spec?: Partial<PodSpec>): Pod;
  cleanup(): Promise<void>;
}

export async function startRuntimeFixture(suite: string, opts: Partial<NodeRuntimeOptions> & { log?: Logger } = {}): Promise<RuntimeFixture> {
  requireRoot(suite);
  requireBinaries(suite, 'crun', 'conmon', 'docker-registry');
  if (!existsSync('/usr/bin/docker-registry')) throw new Error(`${suite} needs /usr/bin/docker-registry: run hack/deps.sh first`);
  const prefix = `flt${randomBytes(3).toString('hex')}`;
  const tmp = mkdtempSync(join(tmpdir(), `flotilla-noderuntime-${prefix}-`));
  const stateDir = join(tmp, 'state');
  const runDir = join(tmp, 'run');
  const cgroupParent = `/flotilla-test-${prefix}`;
  const registry = await startRegistry();
  const cleanups: Array<() => Promise<void> | void> = [() => registry.stop()];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const built = buildTestImage(join(tmp, 'image'));
    const image = `${registry.host}/library/busybox:1.35`;
    await pushImage(new RegistryClient({ insecureRegistries: [registry.host] }), openLayout(built.dir), undefined, image);
    const make = (o: Partial<NodeRuntimeOptions> = {}) =>
      NodeRuntime.create({ stateDir, runDir, cgroupParent, insecureRegistries: [registry.host], log: opts.log ?? silentLogger(), ...opts, ...o });
    const runtime = await make();
    const opened: NodeRuntime[] = [runtime];
    cleanups.push(async () => {
      // Every pod still on disk goes through killPod, then whatever it missed is forced away.
      for (const st of await runtime.listPods().catch(() => [])) await runtime.killPod({ metadata: { uid: st.uid } }, 0).catch(() => undefined);
      for (const m of mountsUnder([tmp])) {
        try {
          native.umount(m, native.MNT_DETACH);
        } catch {
          /* gone */
        }
      }
      await new CgroupManager({ parent: cgroupParent }).remove(cgroupParent).catch(() => undefined);
      rmSync(tmp, { recursive: true, force: true });
    });
    return {
      prefix,
      tmp,
      stateDir,
      runDir,
      cgroupParent,
      registry,
      image,
      runtime,
      reopen: async (o) => {
        const r = await make(o);
        opened.push(r);
        return r;
      },
      pod: (name, containers, spec = {}) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${prefix}-${name}`, namespace: 'default', uid: randomUUID() },
        spec: {
          restartPolicy: 'Always',
          ...spec,
          containers: containers.map((c) => ({ image, imagePullPolicy: 'IfNotPresent', ...c }) as Container),
        },
      }),
      cleanup,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** A process that still runs (a zombie does not). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Processes whose command line mentions S (conmon carries the container id in its arguments). */
export function processesMentioning(s: string): number[] {
  const out: number[] = [];
  for (const d of readdirSafe('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(s) && alive(Number(d))) out.push(Number(d));
    } catch {
      /* exited */
    }
  }
  return out;
}

function readdirSafe(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
