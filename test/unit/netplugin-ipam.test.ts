import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostLocalIpam, RangeExhaustedError } from '../../netplugin/index.js';

describe('[netplugin] host-local IPAM', () => {
  const dirs: string[] = [];
  const newDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'flt-ipam-'));
    dirs.push(d);
    return join(d, 'net');
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('hands out .2 onwards with the subnet gateway, never .0, .1 or broadcast', async () => {
    const ipam = new HostLocalIpam(newDir(), '10.244.5.0/29');
    const got = [];
    for (let i = 0; i < 5; i++) got.push((await ipam.allocate(`c${i}`)).ip);
    expect(got).toEqual(['10.244.5.2', '10.244.5.3', '10.244.5.4', '10.244.5.5', '10.244.5.6']);
    await expect(ipam.allocate('c5')).rejects.toThrow(RangeExhaustedError);
    await expect(ipam.allocate('c5')).rejects.toThrow('no free IP left in 10.244.5.0/29 on this node');
    expect((await ipam.allocate('c0')).gateway).toBe('10.244.5.1');
  });

  it('returns the same IP for the same id and frees it on release (idempotent)', async () => {
    const ipam = new HostLocalIpam(newDir(), '10.244.5.0/24');
    const a = await ipam.allocate('pod-a');
    expect((await ipam.allocate('pod-a')).ip).toBe(a.ip);
    expect(await ipam.release('pod-a')).toBe(a.ip);
    expect(await ipam.release('pod-a')).toBeUndefined();
    expect((await ipam.allocations()).size).toBe(0);
  });

  it('does not reuse a freed IP at once, and survives a restart (new allocator on the same dir)', async () => {
    const dir = newDir();
    const one = new HostLocalIpam(dir, '10.244.5.0/24');
    const a = await one.allocate('a');
    await one.release('a');
    const two = new HostLocalIpam(dir, '10.244.5.0/24');
    const b = await two.allocate('b');
    expect(b.ip).not.toBe(a.ip);
    expect(b.ip).toBe('10.244.5.3');
  });

  it('never hands out one IP twice to concurrent allocators', async () => {
    const dir = newDir();
    const allocs = await Promise.all(
      Array.from({ length: 40 }, (_, i) => new HostLocalIpam(dir, '10.244.5.0/24').allocate(`c${i}`)),
    );
    expect(new Set(allocs.map((a) => a.ip)).size).toBe(40);
  });

  it('refuses a subnet too small to hold a pod', () => {
    expect(() => new HostLocalIpam(newDir(), '10.244.5.0/30')).toThrow('too small');
  });
});
