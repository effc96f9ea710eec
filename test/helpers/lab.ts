// A lab of network-namespace hosts for tests, driven through hack/lab.sh with a
// unique name prefix and underlay subnet so labs of parallel runs never collide.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAB_SH = `${REPO_ROOT}hack/lab.sh`;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Lab {
  readonly prefix: string;
  readonly net: string;
  readonly env: NodeJS.ProcessEnv;

  constructor(tag = 't') {
    this.prefix = `${tag}${randomInt(0, 36 ** 5).toString(36).padStart(5, '0')}`.slice(0, 8);
    // 10.200.100.0/24 … 10.200.249.0/24: project-owned range, one /24 per lab.
    this.net = `10.200.${randomInt(100, 250)}`;
    this.env = { ...process.env, LAB_PREFIX: this.prefix, LAB_NET: this.net };
  }

  private sh(args: string[]): string {
    return execFileSync(LAB_SH, args, { env: this.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  up(n: number): void {
    this.sh(['up', String(n)]);
  }

  down(): void {
    this.sh(['down']);
  }

  hostIp(host: string): string {
    return this.sh(['ip', host]).trim();
  }

  get gateway(): string {
    return `${this.net}.1`;
  }

  netns(host: string): string {
    return `${this.prefix}-${host}`;
  }

  exec(host: string, cmd: string[], opts: { timeoutMs?: number } = {}): ExecResult {
    const r = spawnSync(LAB_SH, ['exec', host, ...cmd], {
      env: this.env,
      encoding: 'utf8',
      timeout: opts.timeoutMs ?? 30_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Starts CMD in HOST in the background, recorded so `down` ends it. Returns its PID. */
  spawn(host: string, name: string, cmd: string[]): number {
    return Number(this.sh(['spawn', host, name, ...cmd]).trim());
  }
}

/** What of a lab is left on the machine: namespaces, links and mounts carrying its prefix. */
export function labLeftovers(prefix: string): string[] {
  const left: string[] = [];
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const line of ns.split('\n')) {
    const name = line.split(' ')[0];
    if (name && name.startsWith(`${prefix}-`)) left.push(`netns ${name}`);
  }
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  for (const line of links.split('\n')) {
    const name = line.split(': ')[1]?.split('@')[0];
    if (name && name.startsWith(`${prefix}-`)) left.push(`link ${name}`);
  }
  const mounts = execFileSync('cat', ['/proc/mounts'], { encoding: 'utf8' });
  for (const line of mounts.split('\n')) {
    const target = line.split(' ')[1];
    if (target && (target.includes(`/${prefix}-`) || target.includes(`/flotilla-lab/${prefix}`))) left.push(`mount ${target}`);
  }
  return left;
}
