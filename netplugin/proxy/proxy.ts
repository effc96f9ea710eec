// ServiceProxy: keeps our nftables table equal to the plan for the Services it
// is given. Each sync is one `nft -f` transaction — the difference from what it
// applied last, or the whole table the first time, after a failed difference,
// or when check() finds the kernel drifted — so nft's atomic commit means the
// kernel holds either the old rule set or the new one, never a part. A plan
// the planner refuses runs nothing. The agent drives it (sync on every change,
// check on a timer) and turns the hooks into metrics and events.
import { componentLogger, type Logger } from '../../api/index.js';
import { execProcess, type Exec } from '../backend/masquerade.js';
import type { ProxyNode, ProxyServicePort } from './model.js';
import { PROXY_FAMILY, PROXY_TABLE, planProxy, renderFull, renderIncremental, staleUdpFlows, type ProxyPlan, type StaleUdpFlow } from './rules.js';
import { parseKernelTable, tableDrift, type KernelTable } from './state.js';

export interface ServiceProxyOptions {
  /** Pin path of the network namespace to program; default the caller's (tests drive a scratch namespace). */
  netns?: string | null;
  exec?: Exec;
  log?: Logger;
  /** Called when check() found the kernel table differing from the plan, with what differed (after the repair). */
  onDrift?: (differences: string[]) => void;
  /** Called when a sync failed (the previous rule set stays in place). */
  onSyncError?: (err: Error) => void;
}

export interface SyncResult {
  /** 'none': the plan equals what is applied, nft did not run. */
  mode: 'full' | 'incremental' | 'none';
  /** Lines in the transaction. */
  lines: number;
}

export interface CheckResult {
  /** What differed ([] when the kernel matched). */
  drift: string[];
  /** A full sync rewrote the table. */
  repaired: boolean;
}

interface Applied {
  plan: ProxyPlan;
  services: ProxyServicePort[];
  node: ProxyNode;
}

export class ServiceProxy {
  private readonly exec: Exec;
  private readonly log: Logger;
  private applied: Applied | undefined;
  /** One transaction at a time: each is computed from what the previous one left. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Drift repairs since start (for the agent's metric). */
  driftRepairs = 0;
  /** Syncs that failed, leaving the previous rule set (for the agent's metric). */
  syncErrors = 0;

  constructor(private readonly opts: ServiceProxyOptions = {}) {
    this.exec = opts.exec ?? execProcess;
    this.log = opts.log ?? componentLogger('service-proxy');
  }

  /** The plan the kernel holds since the last successful sync, if any. */
  appliedPlan(): ProxyPlan | undefined {
    return this.applied?.plan;
  }

  /** Programs SERVICES on NODE. Rejects (changing nothing) on input the planner refuses or a transaction nft refuses. */
  sync(services: readonly ProxyServicePort[], node: ProxyNode): Promise<SyncResult> {
    return this.serial(() => this.syncNow(services, node, false));
  }

  /** Reads the table back and, when it differs from the last applied plan, rewrites it whole. */
  check(): Promise<CheckResult> {
    return this.serial(async () => {
      const a = this.applied;
      if (!a) return { drift: [], repaired: false };
      const drift = tableDrift(a.plan, await this.readTable());
      if (drift.length === 0) return { drift, repaired: false };
      this.log.warn({ drift: drift.slice(0, 20), count: drift.length }, 'service proxy rules drifted from the plan: rewriting the table');
      await this.syncNow(a.services, a.node, true);
      this.driftRepairs++;
      this.opts.onDrift?.(drift);
      return { drift, repaired: true };
    });
  }

  /** Deletes our table (no Service left, or the proxy is turned off). Idempotent. */
  remove(): Promise<void> {
    return this.serial(async () => {
      const t = `${PROXY_FAMILY} ${PROXY_TABLE}`;
      await this.nft(['-f', '-'], `table ${t} {}\ndelete table ${t}\n`);
      this.applied = undefined;
    });
  }

  /** The table as the kernel holds it; undefined when there is none. */
  async readTable(): Promise<KernelTable | undefined> {
    let json: string;
    try {
      json = await this.nft(['-j', 'list', 'table', PROXY_FAMILY, PROXY_TABLE]);
    } catch (e) {
      if (/No such file or directory|does not exist/i.test((e as Error).message)) return undefined;
      throw e;
    }
    return parseKernelTable(json);
  }

  private serial<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async syncNow(services: readonly ProxyServicePort[], node: ProxyNode, forceFull: boolean): Promise<SyncResult> {
    const plan = planProxy(services, node); // throws before anything runs
    const prev = this.applied;
    let result: SyncResult | undefined;
    const incremental = prev && !forceFull ? renderIncremental(prev.plan, plan) : undefined;
    if (incremental === '') result = { mode: 'none', lines: 0 };
    else if (incremental !== undefined) {
      try {
        await this.nft(['-f', '-'], incremental);
        result = { mode: 'incremental', lines: countLines(incremental) };
      } catch (e) {
        // The kernel is not what we last wrote (someone changed it): the whole table fixes that.
        this.log.warn({ err: (e as Error).message }, 'incremental service proxy sync failed: rewriting the table');
      }
    }
    if (!result) {
      const kernel = await this.readTable().catch(() => undefined);
      const text = renderFull(plan, { chains: kernel?.chains.keys(), sets: kernel?.sets });
      try {
        await this.nft(['-f', '-'], text);
      } catch (e) {
        this.syncErrors++;
        this.opts.onSyncError?.(e as Error);
        this.log.error({ err: (e as Error).message }, 'service proxy sync failed: the previous rules stay in place');
        throw e;
      }
      result = { mode: 'full', lines: countLines(text) };
    }
    const before = prev?.services ?? [];
    this.applied = { plan, services: services.map((s) => ({ ...s, endpoints: s.endpoints.map((e) => ({ ...e })) })), node: { ...node } };
    for (const f of staleUdpFlows(before, services, node)) await this.clearConntrack(f);
    return result;
  }

  private async clearConntrack(f: StaleUdpFlow): Promise<void> {
    const args = ['-D', '-p', 'udp', ...(f.origDst ? ['--orig-dst', f.origDst] : []), '--orig-port-dst', String(f.origPort), '--dst-nat', f.endpointIP];
    try {
      await this.cmd('conntrack', args);
    } catch (e) {
      // conntrack exits 1 when nothing matched: the usual case.
      if (/0 flow entries have been deleted/.test((e as Error).message)) return;
      this.log.warn({ err: (e as Error).message, flow: f }, 'clearing UDP conntrack entries of a removed endpoint failed');
    }
  }

  private nft(args: string[], stdin?: string): Promise<string> {
    return this.cmd('nft', args, stdin);
  }

  private cmd(tool: string, args: string[], stdin?: string): Promise<string> {
    if (this.opts.netns) return this.exec('nsenter', [`--net=${this.opts.netns}`, tool, ...args], stdin);
    return this.exec(tool, args, stdin);
  }
}

function countLines(s: string): number {
  return s.split('\n').filter((l) => l !== '').length;
}
