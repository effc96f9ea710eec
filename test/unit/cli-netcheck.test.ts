// flotctl net check: reading ping output, the matrix it prints, probe pod names.
import { describe, expect, it } from 'vitest';
import { parsePing, probeName, renderMatrix } from '../../cli/commands/net.js';

describe('[cli] net check', () => {
  it('reads received packets and the average RTT from busybox and iputils ping', () => {
    const busybox = `PING 10.244.1.2 (10.244.1.2): 56 data bytes\n\n--- 10.244.1.2 ping statistics ---\n3 packets transmitted, 3 packets received, 0% packet loss\nround-trip min/avg/max = 0.061/0.084/0.113 ms\n`;
    expect(parsePing(busybox)).toEqual({ received: 3, avgMs: 0.084 });
    const iputils = `3 packets transmitted, 2 received, 33.3333% packet loss, time 402ms\nrtt min/avg/max/mdev = 0.050/0.071/0.092/0.021 ms\n`;
    expect(parsePing(iputils)).toEqual({ received: 2, avgMs: 0.071 });
    expect(parsePing('3 packets transmitted, 0 packets received, 100% packet loss\n')).toEqual({ received: 0 });
  });

  it('prints one row per source node and one column per destination, FAIL where a pair failed', () => {
    const out = renderMatrix(['h1', 'h2'], [
      { from: 'h1', to: 'h1', ok: true, rttMs: 0.05 },
      { from: 'h1', to: 'h2', ok: true, rttMs: 0.1234 },
      { from: 'h2', to: 'h1', ok: false, error: 'no reply' },
      { from: 'h2', to: 'h2', ok: true, rttMs: 0.04 },
    ]);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^FROM \\ TO\s+h1\s+h2$/);
    expect(lines[1]).toMatch(/^h1\s+ok 0\.050ms\s+ok 0\.123ms$/);
    expect(lines[2]).toMatch(/^h2\s+FAIL\s+ok 0\.040ms$/);
  });

  it('names probe pods after nodes as DNS labels', () => {
    expect(probeName('h1')).toBe('netcheck-h1');
    expect(probeName('node.example.com')).toBe('netcheck-node-example-com');
    expect(probeName('x'.repeat(80)).length).toBeLessThanOrEqual(63);
  });
});
