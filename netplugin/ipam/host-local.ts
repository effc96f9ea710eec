// Host-local IPAM: the addresses of one node's pod subnet, allocated from files
// on disk so they survive agent restarts. One file per allocated IP, created with
// O_EXCL, so two allocators (even two processes) can never hand out the same IP.
// Allocation goes round-robin from the last reserved IP, so a just-freed address
// is not reused at once.
//
// Finding what an owner holds must not read every allocation (a pod ADD on a
// full node would scan hundreds of files): `by-id/<hash of id+ifName>` names the
// owner's IP. It is written before the IP is claimed and always checked against
// the IP file's owner, so a crash between the two steps can neither lose an
// allocation (the index already points at it) nor fake one (the IP file names
// someone else, or nobody).
import { access, mkdir, open, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { FlotillaError, InvalidError } from '../../api/index.js';
import { cidrContains, formatIPv4, parseCidr, parseIPv4, type Cidr } from '../cidr.js';

export class RangeExhaustedError extends FlotillaError {
  constructor(subnet: string) {
    super('Unavailable', `no free IP left in ${subnet} on this node`, { details: { subnet } });
  }
}

export interface Allocation {
  ip: string;
  /** Prefix length of the subnet, for `ip/len`. */
  prefix: number;
  gateway: string;
  /** True when the owner already held this IP (a repeated allocate). */
  existing?: boolean;
}

const LAST_RESERVED = 'last_reserved_ip';
const BY_ID = 'by-id';

export class HostLocalIpam {
  private readonly cidr: Cidr;
  private readonly first: number;
  private readonly last: number;
  readonly gateway: string;

  /**
   * @param dir   where allocations live, e.g. <state>/ipam/<network-name>
   * @param subnet the node's pod subnet; `.0` (VXLAN device), `.1` (bridge gateway) and the
   *               broadcast address are never handed out.
   */
  constructor(
    private readonly dir: string,
    readonly subnet: string,
  ) {
    this.cidr = parseCidr(subnet, 'pod subnet');
    if (this.cidr.prefix > 29) throw new InvalidError(`pod subnet ${subnet} is too small: need at least a /29`);
    const size = 2 ** (32 - this.cidr.prefix);
    this.gateway = formatIPv4(this.cidr.base + 1);
    this.first = this.cidr.base + 2;
    this.last = this.cidr.base + size - 2;
  }

  private path(ip: string): string {
    return join(this.dir, ip);
  }

  /** Allocates one IP for `id` (a container/sandbox id). Returns the existing one if `id` already holds one. */
  async allocate(id: string, ifName = 'eth0'): Promise<Allocation> {
    await mkdir(join(this.dir, BY_ID), { recursive: true });
    const held = await this.findById(id, ifName);
    if (held) return { ip: held, prefix: this.cidr.prefix, gateway: this.gateway, existing: true };
    let start = this.first;
    try {
      const lastIp = parseIPv4((await readFile(join(this.dir, LAST_RESERVED), 'utf8')).trim());
      if (cidrContains(this.cidr, lastIp) && lastIp >= this.first && lastIp < this.last) start = lastIp + 1;
    } catch {
      /* no record yet */
    }
    const span = this.last - this.first + 1;
    for (let i = 0; i < span; i++) {
      const n = this.first + ((start - this.first + i) % span);
      const ip = formatIPv4(n);
      if (await this.exists(ip)) continue;
      await this.writeIndex(id, ifName, ip);
      try {
        const fh = await open(this.path(ip), 'wx', 0o644);
        await fh.writeFile(`${id}\n${ifName}`);
        await fh.close();
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw e;
      }
      const tmp = join(this.dir, `.${LAST_RESERVED}.${randomBytes(6).toString('hex')}`);
      await writeFile(tmp, ip);
      await rename(tmp, join(this.dir, LAST_RESERVED));
      return { ip, prefix: this.cidr.prefix, gateway: this.gateway };
    }
    await unlink(this.indexPath(id, ifName)).catch(() => undefined);
    throw new RangeExhaustedError(this.subnet);
  }

  /** Frees whatever `id` holds. Idempotent: freeing nothing is fine. */
  async release(id: string, ifName = 'eth0'): Promise<string | undefined> {
    const ip = await this.findById(id, ifName);
    if (ip) await unlink(this.path(ip)).catch(() => undefined);
    await unlink(this.indexPath(id, ifName)).catch(() => undefined);
    return ip;
  }

  async findById(id: string, ifName = 'eth0'): Promise<string | undefined> {
    let ip: string;
    try {
      ip = (await readFile(this.indexPath(id, ifName), 'utf8')).trim();
    } catch {
      return undefined;
    }
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return undefined;
    const owner = await this.ownerOf(ip);
    return owner && owner.id === id && owner.ifName === ifName ? ip : undefined;
  }

  private indexPath(id: string, ifName: string): string {
    return join(this.dir, BY_ID, createHash('sha256').update(`${id}\n${ifName}`).digest('hex').slice(0, 32));
  }

  private async writeIndex(id: string, ifName: string, ip: string): Promise<void> {
    const file = this.indexPath(id, ifName);
    const tmp = `${file}.${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, ip);
    await rename(tmp, file);
  }

  private async exists(ip: string): Promise<boolean> {
    try {
      await access(this.path(ip));
      return true;
    } catch {
      return false;
    }
  }

  private async ownerOf(ip: string): Promise<{ id: string; ifName: string } | undefined> {
    let text: string;
    try {
      text = await readFile(this.path(ip), 'utf8');
    } catch {
      return undefined;
    }
    const [id = '', ifName = 'eth0'] = text.split('\n');
    return { id: id.trim(), ifName: ifName.trim() || 'eth0' };
  }

  /** ip → owner, for CHECK, garbage collection and leak audits. */
  async allocations(): Promise<Map<string, { id: string; ifName: string }>> {
    const out = new Map<string, { id: string; ifName: string }>();
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return out;
    }
    for (const name of names) {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(name)) continue;
      const [id = '', ifName = 'eth0'] = (await readFile(this.path(name), 'utf8').catch(() => '')).split('\n');
      out.set(name, { id: id.trim(), ifName: ifName.trim() || 'eth0' });
    }
    return out;
  }
}
