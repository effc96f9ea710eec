// HostLocalIpam's per-owner index (by-id/): lookups read one index file and the
// IP file it names, and the index is always checked against the IP file's owner.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostLocalIpam, RangeExhaustedError } from '../../netplugin/index.js';

const dirs: string[] = [];
function fresh(subnet = '10.244.1.0/24'): { dir: string; ipam: HostLocalIpam } {
  const dir = mkdtempSync(join(tmpdir(), 'ipam-index-'));
  dirs.push(dir);
  return { dir, ipam: new HostLocalIpam(dir, subnet) };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('host-local IPAM owner index', () => {
  it('a repeated allocate says the IP was already held', async () => {
    const { ipam } = fresh();
    const a = await ipam.allocate('c1');
    expect(a.existing).toBeUndefined();
    expect(await ipam.allocate('c1')).toEqual({ ...a, existing: true });
  });

  it('an index pointing at an IP that another owner holds is not taken for an allocation', async () => {
    const { dir, ipam } = fresh();
    const b = await ipam.allocate('c2');
    // c1's index left behind by a crash mid-release, naming the IP c2 now holds.
    const c1Index = createHash('sha256').update('c1\neth0').digest('hex').slice(0, 32);
    writeFileSync(join(dir, 'by-id', c1Index), b.ip);
    expect(await ipam.findById('c1')).toBeUndefined();
    const a = await ipam.allocate('c1');
    expect(a.ip).not.toBe(b.ip);
    expect(await ipam.findById('c2')).toBe(b.ip);
    expect(await ipam.findById('c1')).toBe(a.ip);
  });

  it('a crash after the index was written but before the IP was claimed leaves no allocation', async () => {
    const { dir, ipam } = fresh();
    await ipam.allocate('c1');
    await ipam.release('c1');
    expect(readdirSync(join(dir, 'by-id'))).toEqual([]);
    const c = await ipam.allocate('c3');
    // The IP file goes away (as if never claimed); the index alone means nothing.
    rmSync(join(dir, c.ip));
    expect(await ipam.findById('c3')).toBeUndefined();
    expect((await ipam.allocate('c3')).existing).toBeUndefined();
  });

  it('an exhausted range leaves no index behind', async () => {
    const { dir, ipam } = fresh('10.244.9.0/29');
    for (let i = 0; i < 5; i++) await ipam.allocate(`c${i}`);
    await expect(ipam.allocate('c5')).rejects.toBeInstanceOf(RangeExhaustedError);
    expect(readdirSync(join(dir, 'by-id'))).toHaveLength(5);
  });
});
