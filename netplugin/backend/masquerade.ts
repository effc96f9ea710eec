// Masquerade for pod → outside traffic, never for pod → pod: a chain of our own
// in the nat table, jumped to from POSTROUTING. The chain is rewritten whole
// (iptables-restore --noflush flushes a chain it declares), so applying it
// again is idempotent, and removing it takes the jump and the chain away.
// iptables is the one process we run on the network path: nftables has no
// rtnetlink interface, and Debian 12's iptables is the nft backend.
import { execFile } from 'node:child_process';
import { FlotillaError } from '../../api/index.js';
import { parseCidr } from '../cidr.js';

export const MASQUERADE_CHAIN = 'FLOTILLA-POSTRTG';

export interface MasqueradeConfig {
  /** The cluster pod CIDR: traffic staying inside it is never masqueraded. */
  clusterCidr: string;
  /** This node's pod subnet: traffic from it to anywhere else is masqueraded. */
  subnet: string;
  /** Pin path of the namespace to work in; default the caller's. */
  netns?: string | null;
}

/** Runs a command and resolves with stdout; injectable so rule planning is testable without iptables. */
export type Exec = (file: string, args: string[], stdin?: string) => Promise<string>;

export const execProcess: Exec = (file, args, stdin) =>
  new Promise((resolve, reject) => {
    const child = execFile(file, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(
          new FlotillaError('Internal', `${[file, ...args].join(' ')} failed: ${(stderr || err.message).trim()}`, {
            details: { file, args, code: (err as { code?: unknown }).code ?? null },
            cause: err,
          }),
        );
      } else resolve(stdout);
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
  });

/** The chain's rules, in order: first RETURN for pod → pod, then MASQUERADE for the rest. */
export function masqueradeRules(cfg: MasqueradeConfig): string[][] {
  parseCidr(cfg.clusterCidr, 'cluster CIDR');
  parseCidr(cfg.subnet, 'pod subnet');
  const c = ['-m', 'comment', '--comment'];
  return [
    ['-s', cfg.clusterCidr, '-d', cfg.clusterCidr, ...c, 'flotilla: pod to pod is not masqueraded', '-j', 'RETURN'],
    // Multicast keeps its source: masquerading it would break protocols that rely on it.
    ['-s', cfg.subnet, '!', '-d', '224.0.0.0/4', ...c, 'flotilla: pod to outside', '-j', 'MASQUERADE', '--random-fully'],
  ];
}

function quote(a: string): string {
  return /^[A-Za-z0-9_./:!-]+$/.test(a) ? a : `"${a.replace(/(["\\])/g, '\\$1')}"`;
}

/** The iptables-restore input that (re)writes our chain. */
export function masqueradeRestoreInput(cfg: MasqueradeConfig): string {
  const lines = ['*nat', `:${MASQUERADE_CHAIN} - [0:0]`];
  for (const r of masqueradeRules(cfg)) lines.push(`-A ${MASQUERADE_CHAIN} ${r.map(quote).join(' ')}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

export class Masquerade {
  constructor(
    private readonly cfg: MasqueradeConfig,
    private readonly exec: Exec = execProcess,
    private readonly iptables = 'iptables-nft',
  ) {}

  private cmd(tool: string, args: string[], stdin?: string): Promise<string> {
    if (this.cfg.netns) return this.exec('nsenter', [`--net=${this.cfg.netns}`, tool, ...args], stdin);
    return this.exec(tool, args, stdin);
  }

  private jump = ['-t', 'nat', '-m', 'comment', '--comment', 'flotilla: pod masquerade', '-j', MASQUERADE_CHAIN];

  private async hasJump(): Promise<boolean> {
    try {
      await this.cmd(this.iptables, ['-w', '-C', 'POSTROUTING', ...this.jump]);
      return true;
    } catch {
      return false;
    }
  }

  /** Writes the chain and makes POSTROUTING jump to it once. */
  async ensure(): Promise<void> {
    await this.cmd(`${this.iptables}-restore`, ['-w', '--noflush'], masqueradeRestoreInput(this.cfg));
    if (!(await this.hasJump())) await this.cmd(this.iptables, ['-w', '-I', 'POSTROUTING', '1', ...this.jump]);
  }

  /** Removes the jump(s) and the chain. Idempotent. */
  async remove(): Promise<void> {
    while (await this.hasJump()) await this.cmd(this.iptables, ['-w', '-D', 'POSTROUTING', ...this.jump]);
    for (const op of ['-F', '-X']) {
      await this.cmd(this.iptables, ['-w', '-t', 'nat', op, MASQUERADE_CHAIN]).catch(() => undefined);
    }
  }
}
