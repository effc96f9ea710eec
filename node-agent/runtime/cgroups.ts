// cgroups of pods and containers, under the agent's own parent (`/flotilla` by
// default): `<parent>/pod<uid>` per pod with its limits, a leaf per container
// (`<parent>/pod<uid>/<container-id>`) that the OCI runtime creates from the
// absolute `linux.cgroupsPath`. Runtimes remove only the leaf, so the pod
// cgroup and anything left below it are removed here, in every hierarchy the
// runtime touched (crun also creates the path under name=systemd and the
// unified mount of a hybrid host). v1 and v2 are both handled; which one is
// detected from /sys/fs/cgroup/cgroup.controllers.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { InternalError } from '../../api/index.js';

export type CgroupVersion = 1 | 2;

export interface CgroupHierarchy {
  mountPoint: string;
  version: CgroupVersion;
  /** v1 controllers of this mount (`cpu`, `memory`, `name=systemd`…); empty for v2. */
  controllers: string[];
}

const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc',
]);

/** The cgroup mounts listed in /proc/self/mounts text. */
export function parseCgroupMounts(procMounts: string): CgroupHierarchy[] {
  const out: CgroupHierarchy[] = [];
  for (const line of procMounts.split('\n')) {
    const [, mountPoint, type, options] = line.split(' ');
    if (!mountPoint || !options) continue;
    if (type === 'cgroup2') out.push({ mountPoint, version: 2, controllers: [] });
    else if (type === 'cgroup') {
      const controllers = options.split(',').filter((o) => V1_CONTROLLERS.has(o) || o.startsWith('name='));
      out.push({ mountPoint, version: 1, controllers });
    }
  }
  return out;
}

/** The `oom_kill N` counter of a v1 memory.oom_control or v2 memory.events text. */
export function parseOomKillCount(text: string): number {
  const m = /^oom_kill\s+(\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Limits of a pod cgroup; absent fields are unlimited. */
export interface PodCgroupLimits {
  /** CFS quota in µs per 100 ms period. */
  cpuQuotaUs?: number;
  cpuShares?: number;
  memoryBytes?: number;
  pids?: number;
}

export interface CgroupManagerOptions {
  /** Absolute parent of every pod cgroup of this agent, e.g. `/flotilla`. */
  parent?: string;
  /** Text of /proc/self/mounts (read when absent). */
  procMounts?: string;
  /** Where the cgroup filesystem is mounted (for the v2 check). */
  cgroupRoot?: string;
}

const CFS_PERIOD_US = 100_000;

export class CgroupManager {
  readonly parent: string;
  readonly version: CgroupVersion;
  readonly hierarchies: CgroupHierarchy[];
  private readonly root: string;

  constructor(opts: CgroupManagerOptions = {}) {
    this.parent = (opts.parent ?? '/flotilla').replace(/\/+$/, '');
    if (!this.parent.startsWith('/')) throw new InternalError(`cgroup parent must be absolute, got "${this.parent}"`);
    this.root = opts.cgroupRoot ?? '/sys/fs/cgroup';
    const all = parseCgroupMounts(opts.procMounts ?? fs.readFileSync('/proc/self/mounts', 'utf8'));
    this.version = fs.existsSync(join(this.root, 'cgroup.controllers')) ? 2 : 1;
    this.hierarchies = this.version === 2 ? all.filter((h) => h.version === 2 && h.mountPoint === this.root) : all;
  }

  podPath(podUid: string): string {
    return `${this.parent}/pod${podUid}`;
  }

  /** The absolute `linux.cgroupsPath` of a container of the pod. */
  containerPath(podUid: string, containerId: string): string {
    return `${this.podPath(podUid)}/${containerId}`;
  }

  /** The directory of cgroup PATH for CONTROLLER (v1) or in the unified tree (v2). */
  dir(controller: string, path: string): string | undefined {
    if (this.version === 2) return join(this.root, path);
    const h = this.hierarchies.find((x) => x.version === 1 && x.controllers.includes(controller));
    return h ? join(h.mountPoint, path) : undefined;
  }

  /** Creates the pod cgroup with its limits (idempotent). */
  ensurePod(podUid: string, limits: PodCgroupLimits = {}): string {
    const path = this.podPath(podUid);
    if (this.version === 2) {
      this.enableV2Controllers(path);
      const d = join(this.root, path);
      fs.mkdirSync(d, { recursive: true });
      if (limits.cpuQuotaUs) writeIfExists(join(d, 'cpu.max'), `${limits.cpuQuotaUs} ${CFS_PERIOD_US}`);
      if (limits.cpuShares) writeIfExists(join(d, 'cpu.weight'), String(sharesToWeight(limits.cpuShares)));
      if (limits.memoryBytes) writeIfExists(join(d, 'memory.max'), String(limits.memoryBytes));
      if (limits.pids) writeIfExists(join(d, 'pids.max'), String(limits.pids));
      return path;
    }
    for (const ctl of ['cpu', 'cpuacct', 'memory', 'pids']) {
      const d = this.dir(ctl, path);
      if (d) fs.mkdirSync(d, { recursive: true });
    }
    const cpu = this.dir('cpu', path);
    if (cpu && limits.cpuQuotaUs) {
      fs.writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
      fs.writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(limits.cpuQuotaUs));
    }
    if (cpu && limits.cpuShares) fs.writeFileSync(join(cpu, 'cpu.shares'), String(limits.cpuShares));
    const mem = this.dir('memory', path);
    if (mem && limits.memoryBytes) fs.writeFileSync(join(mem, 'memory.limit_in_bytes'), String(limits.memoryBytes));
    const pids = this.dir('pids', path);
    if (pids && limits.pids) fs.writeFileSync(join(pids, 'pids.max'), String(limits.pids));
    return path;
  }

  private enableV2Controllers(path: string): void {
    // Each ancestor must delegate cpu/memory/pids to its children.
    // The pod itself delegates too: its containers' leaves carry their own limits.
    const parts = path.split('/').filter(Boolean);
    let cur = this.root;
    const delegate = (dir: string) => {
      for (const c of ['cpu', 'memory', 'pids']) {
        try {
          fs.writeFileSync(join(dir, 'cgroup.subtree_control'), `+${c}`);
        } catch {
          /* not available here: that limit is not applied */
        }
      }
    };
    for (const p of parts) {
      delegate(cur);
      cur = join(cur, p);
      fs.mkdirSync(cur, { recursive: true });
    }
    delegate(cur);
  }

  /** How often the kernel OOM-killed in cgroup PATH; undefined once the cgroup is gone. */
  oomKillCount(path: string): number | undefined {
    const file = this.version === 2 ? join(this.root, path, 'memory.events') : join(this.dir('memory', path) ?? '/nonexistent', 'memory.oom_control');
    try {
      return parseOomKillCount(fs.readFileSync(file, 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** One control file of cgroup PATH (`cpu.cfs_quota_us`, `memory.max`…), trimmed; undefined when absent. */
  read(controller: string, path: string, file: string): string | undefined {
    const d = this.dir(controller, path);
    try {
      return d ? fs.readFileSync(join(d, file), 'utf8').trim() : undefined;
    } catch {
      return undefined;
    }
  }

  /** Every directory of cgroup PATH that exists, over all hierarchies. */
  existing(path: string): string[] {
    const roots = this.version === 2 ? [this.root] : this.hierarchies.map((h) => h.mountPoint);
    return roots.map((r) => join(r, path)).filter((d) => fs.existsSync(d));
  }

  /** Removes cgroup PATH and everything below it in every hierarchy. Throws if a cgroup still has processes. */
  async remove(path: string, opts: { attempts?: number; delayMs?: number } = {}): Promise<void> {
    const attempts = opts.attempts ?? 20;
    for (const d of this.existing(path)) {
      for (const dir of depthFirst(d)) {
        for (let i = 0; ; i++) {
          try {
            fs.rmdirSync(dir);
            break;
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === 'ENOENT') break;
            // EBUSY: the last task is still exiting; give it a moment.
            if (code === 'EBUSY' && i < attempts) {
              await new Promise((r) => setTimeout(r, opts.delayMs ?? 50));
              continue;
            }
            throw new InternalError(`cannot remove cgroup ${dir}: ${(e as Error).message}`, { cause: e });
          }
        }
      }
    }
  }

  /** Removes the pod's cgroup with any container leaves the runtime left behind. */
  async removePod(podUid: string): Promise<void> {
    await this.remove(this.podPath(podUid));
  }
}

function depthFirst(dir: string): string[] {
  const out: string[] = [];
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) if (e.isDirectory()) out.push(...depthFirst(join(dir, e.name)));
  out.push(dir);
  return out;
}

function writeIfExists(file: string, value: string): void {
  if (fs.existsSync(file)) fs.writeFileSync(file, value);
}

/** cgroup v1 cpu.shares (2…262144) to v2 cpu.weight (1…10000): `1 + (shares-2)*9999/262142` in integers, as runc and the kubelet convert. */
export function sharesToWeight(shares: number): number {
  const s = Math.min(262_144, Math.max(2, Math.floor(shares)));
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

/** Pod-level limits: the sum of the containers' limits, only when every container sets that limit. */
export function podCgroupLimits(containers: Array<{ cpuQuotaUs?: number; memoryBytes?: number; cpuShares?: number }>): PodCgroupLimits {
  const out: PodCgroupLimits = {};
  if (containers.length > 0 && containers.every((c) => c.cpuQuotaUs)) out.cpuQuotaUs = containers.reduce((a, c) => a + c.cpuQuotaUs!, 0);
  if (containers.length > 0 && containers.every((c) => c.memoryBytes)) out.memoryBytes = containers.reduce((a, c) => a + c.memoryBytes!, 0);
  const shares = containers.reduce((a, c) => a + (c.cpuShares ?? 2), 0);
  if (containers.length > 0) out.cpuShares = Math.max(2, shares);
  return out;
}
