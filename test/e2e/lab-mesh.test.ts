import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, labLeftovers } from '../helpers/lab.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

describe('[lab] a three-host lab', () => {
  const lab = new Lab('te');

  beforeAll(() => {
    requireRoot('the e2e suite');
    requireBinaries('the e2e suite', 'ip', 'ping');
    lab.up(3);
  });
  afterAll(() => {
    lab.down();
  });

  it('every host reaches every other host and the underlay gateway', () => {
    const hosts = ['h1', 'h2', 'h3'];
    const failures: string[] = [];
    for (const from of hosts) {
      for (const to of [...hosts.filter((h) => h !== from).map((h) => lab.hostIp(h)), lab.gateway]) {
        const r = lab.exec(from, ['ping', '-c', '1', '-W', '2', to]);
        if (r.code !== 0) failures.push(`${from} -> ${to}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('hosts do not see each other\'s links: each has only lo and eth0', () => {
    const r = lab.exec('h2', ['ip', '-o', 'link', 'show']);
    const names = r.stdout.trim().split('\n').map((l) => l.split(': ')[1]?.split('@')[0]);
    expect(names.sort()).toEqual(['eth0', 'lo']);
  });

  it('down removes the whole lab', () => {
    lab.down();
    expect(labLeftovers(lab.prefix)).toEqual([]);
  });
});
