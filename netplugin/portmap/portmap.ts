// HostPortMapper: keeps our nftables table equal to the host ports of the
// sandboxes it was told about. Every change rewrites the whole table in one
// `nft -f` transaction (rules.ts plans the text), so the kernel never holds a
// half-applied state and applying again is a no-op; no other table is read or
// flushed. UDP has no connection end, so conntrack entries of a UDP host port
// are deleted whenever its mapping appears or goes: otherwise a stale entry
// keeps sending the flow to where it went before.
import { componentLogger, type Logger } from '../../api/index.js';
import { execProcess, type Exec } from '../backend/masquerade.js';
import { HOSTPORT_FAMILY, HOSTPORT_TABLE, hostPortScript, removedMappings, type HostPortMapping, type SandboxHostPorts } from './rules.js';

export interface HostPortMapperOptions {
  /** Pin path of the host namespace to program; default the caller's (lab tests drive several hosts from one process). */
  netns?: string | null;
  /** The node's pod subnet (masquerade of DNATed traffic coming from it); default: only the pod's own IP. */
  podSubnet?: string;
  exec?: Exec;
  log?: Logger;
}

export class HostPortMapper {
  private readonly sandboxes = new Map<string, SandboxHostPorts>();
  private readonly exec: Exec;
  private readonly log: Logger;
  /** Bridge ports already put in hairpin mode. */
  private readonly hairpinDone = new Set<string>();
  /** One change at a time: each rewrites the whole table from the map. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: HostPortMapperOptions = {}) {
    this.exec = opts.exec ?? execProcess;
    this.log = opts.log ?? componentLogger('hostport');
  }

  /** What the table forwards now, by sandbox. */
  current(): SandboxHostPorts[] {
    return [...this.sandboxes.values()];
  }

  /** Sets (or replaces) the host ports of one sandbox; an empty list removes them. */
  set(sb: SandboxHostPorts): Promise<void> {
    return this.change((next) => {
      if (sb.mappings.length === 0) next.delete(sb.sandboxId);
      else next.set(sb.sandboxId, { ...sb, mappings: [...sb.mappings] });
    });
  }

  /** Removes the host ports of a sandbox. Idempotent. */
  remove(sandboxId: string): Promise<void> {
    return this.change((next) => void next.delete(sandboxId));
  }

  /** Makes the table forward exactly ALL (after an agent restart: the sandboxes still on the node). */
  reconcile(all: SandboxHostPorts[]): Promise<void> {
    return this.change((next) => {
      next.clear();
      for (const sb of all) if (sb.mappings.length > 0) next.set(sb.sandboxId, { ...sb, mappings: [...sb.mappings] });
    }, true);
  }

  /**
   * Writes the table again from what the mapper knows (the periodic re-check:
   * a rule someone deleted comes back). Established flows keep their NAT in
   * conntrack, so a rewrite disturbs none, and no conntrack entry is cleared.
   * Nothing known and nothing written yet: no process runs.
   */
  resync(): Promise<void> {
    return this.change(() => undefined, 'rewrite');
  }

  /** The table as the kernel has it (`nft list table`), or '' when there is none. */
  async listTable(): Promise<string> {
    return this.cmd('nft', ['list', 'table', HOSTPORT_FAMILY, HOSTPORT_TABLE]).catch(() => '');
  }

  private written = false;

  private change(edit: (next: Map<string, SandboxHostPorts>) => void, mode: boolean | 'rewrite' = false): Promise<void> {
    const force = mode === true;
    const run = this.queue.then(async () => {
      const next = new Map(this.sandboxes);
      edit(next);
      const before = [...this.sandboxes.values()].flatMap((s) => s.mappings);
      const after = [...next.values()].flatMap((s) => s.mappings);
      const added = removedMappings(after, before);
      const removed = removedMappings(before, after);
      if (mode === 'rewrite') {
        if (next.size === 0 && !this.written) return;
        await this.cmd('nft', ['-f', '-'], hostPortScript([...next.values()], { podSubnet: this.opts.podSubnet }));
        this.written = next.size > 0;
        this.hairpinDone.clear();
        await this.ensureHairpin(false);
        return;
      }
      if (!force && added.length === 0 && removed.length === 0) {
        this.sandboxes.clear();
        for (const [k, v] of next) this.sandboxes.set(k, v);
        return;
      }
      await this.cmd('nft', ['-f', '-'], hostPortScript([...next.values()], { podSubnet: this.opts.podSubnet }));
      this.written = next.size > 0;
      this.sandboxes.clear();
      for (const [k, v] of next) this.sandboxes.set(k, v);
      this.log.info({ added: added.map(show), removed: removed.map(show), total: after.length }, 'host ports programmed');
      // After a reconcile nobody knows what the table held before: clear every UDP port it now forwards.
      const udp = [...removed, ...(force ? after : added)].filter((m) => m.protocol === 'UDP');
      for (const m of dedupe(udp)) await this.clearConntrack(m);
      await this.ensureHairpin(force);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async ensureHairpin(force: boolean): Promise<void> {
    if (force) this.hairpinDone.clear();
    const ports = new Set([...this.sandboxes.values()].map((s) => s.hostIfName).filter((n): n is string => !!n));
    for (const n of this.hairpinDone) if (!ports.has(n)) this.hairpinDone.delete(n);
    for (const n of ports) {
      if (this.hairpinDone.has(n)) continue;
      try {
        await this.cmd('ip', ['link', 'set', 'dev', n, 'type', 'bridge_slave', 'hairpin', 'on']);
        this.hairpinDone.add(n);
      } catch (e) {
        this.log.warn({ err: (e as Error).message, link: n }, 'hairpin mode not set: the pod cannot reach its own host port');
      }
    }
  }

  private async clearConntrack(m: HostPortMapping): Promise<void> {
    const args = ['-D', '-p', 'udp', '--orig-port-dst', String(m.hostPort), ...(m.hostIP ? ['--orig-dst', m.hostIP] : [])];
    try {
      await this.cmd('conntrack', args);
    } catch (e) {
      // conntrack exits 1 when nothing matched: that is the usual case.
      if (/0 flow entries have been deleted/.test(String((e as Error).message))) return;
      this.log.warn({ err: (e as Error).message, hostPort: m.hostPort }, 'clearing UDP conntrack entries failed');
    }
  }

  private cmd(tool: string, args: string[], stdin?: string): Promise<string> {
    if (this.opts.netns) return this.exec('nsenter', [`--net=${this.opts.netns}`, tool, ...args], stdin);
    return this.exec(tool, args, stdin);
  }
}

function show(m: HostPortMapping): string {
  return `${m.hostIP || '*'}:${m.hostPort}/${m.protocol}→${m.podIP}:${m.containerPort}`;
}

function dedupe(ms: HostPortMapping[]): HostPortMapping[] {
  const seen = new Set<string>();
  return ms.filter((m) => {
    const k = `${m.hostIP ?? ''}|${m.hostPort}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
