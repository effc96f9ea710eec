import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labLeftovers } from '../helpers/lab.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

describe('[lab] network-namespace hosts on an underlay bridge', () => {
  const lab = new Lab('tl');

  beforeAll(() => {
    requireRoot('the lab suite');
    requireBinaries('the lab suite', 'ip', 'ping', 'sysctl');
    lab.up(2);
  });
  afterAll(() => lab.down());

  it('two lab hosts ping each other over the underlay', () => {
    const r = lab.exec('h1', ['ping', '-c', '2', '-W', '2', lab.hostIp('h2')]);
    expect(r.stdout).toMatch(/2 received/);
    const back = lab.exec('h2', ['ping', '-c', '1', '-W', '2', lab.hostIp('h1')]);
    expect(back.code).toBe(0);
  });

  it('each host forwards packets and uses loose reverse-path filtering', () => {
    expect(lab.exec('h1', ['sysctl', '-n', 'net.ipv4.ip_forward']).stdout.trim()).toBe('1');
    expect(lab.exec('h2', ['sysctl', '-n', 'net.ipv4.conf.all.rp_filter']).stdout.trim()).toBe('2');
  });

  it('up is idempotent and a third host joins the same underlay', () => {
    lab.up(3);
    expect(lab.exec('h3', ['ping', '-c', '1', '-W', '2', lab.hostIp('h1')]).code).toBe(0);
  });

  it('exec refuses a host that does not exist, naming it', () => {
    const r = lab.exec('h9', ['true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/host 'h9' does not exist/);
  });

  it('down leaves no namespace, link, mount or process behind', () => {
    const pid = lab.spawn('h2', 'sleeper', ['sleep', '300']);
    expect(pid).toBeGreaterThan(1);
    lab.down();
    expect(labLeftovers(lab.prefix)).toEqual([]);
    let alive = true;
    try {
      process.kill(pid, 0);
      // a zombie still answers kill(0); check its state
      alive = !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
    } catch {
      alive = false;
    }
    expect(alive).toBe(false);
  });
});
