// The host port table as nft reads it: the golden text of hostPortScript, the
// mappings a pod spec asks for, and the mapper's transactions (a fake exec
// records the nft/conntrack calls; the real kernel is in
// test/integration/agent-runtime-hostport.test.ts).
import { describe, expect, it } from 'vitest';
import { silentLogger, type Pod } from '../../api/index.js';
import { HostPortMapper, hostPortScript, podHostPortMappings, type SandboxHostPorts } from '../../netplugin/index.js';

const WEB: SandboxHostPorts = {
  sandboxId: '0123456789abcdef0123',
  pod: 'default/web',
  mappings: [
    { hostPort: 18080, protocol: 'TCP', podIP: '10.244.9.5', containerPort: 80 },
    { hostIP: '10.250.0.1', hostPort: 5353, protocol: 'UDP', podIP: '10.244.9.5', containerPort: 53 },
  ],
};
const SCTP: SandboxHostPorts = {
  sandboxId: 'fedcba9876543210fedc',
  pod: 'team-a/sig',
  mappings: [{ hostPort: 9000, protocol: 'SCTP', podIP: '10.244.9.6', containerPort: 9001 }],
};

const REMOVE_ONLY = ['table ip flotilla-hostport {}', 'delete table ip flotilla-hostport', ''].join('\n');

describe('[hostport] the nftables table', () => {
  it('forwards each host port to its pod, from outside and from the node, and masquerades hairpin and local traffic', () => {
    expect(hostPortScript([WEB, SCTP], { podSubnet: '10.244.9.0/24' })).toBe(
      [
        'table ip flotilla-hostport {}',
        'delete table ip flotilla-hostport',
        'table ip flotilla-hostport {',
        '\tchain prerouting {',
        '\t\ttype nat hook prerouting priority dstnat; policy accept;',
        '\t\tfib daddr type local ip daddr != 127.0.0.0/8 jump hostports',
        '\t}',
        '\tchain output {',
        '\t\ttype nat hook output priority -100; policy accept;',
        '\t\tfib daddr type local ip daddr != 127.0.0.0/8 jump hostports',
        '\t}',
        '\tchain hostports {',
        '\t\tip daddr 10.250.0.1 udp dport 5353 dnat to 10.244.9.5:53 comment "default/web 10.250.0.1:5353/UDP (sandbox 0123456789ab)"',
        '\t\tsctp dport 9000 dnat to 10.244.9.6:9001 comment "team-a/sig *:9000/SCTP (sandbox fedcba987654)"',
        '\t\ttcp dport 18080 dnat to 10.244.9.5:80 comment "default/web *:18080/TCP (sandbox 0123456789ab)"',
        '\t}',
        '\tchain postrouting {',
        '\t\ttype nat hook postrouting priority srcnat; policy accept;',
        '\t\tct status dnat jump hostports-snat',
        '\t}',
        '\tchain hostports-snat {',
        '\t\tip daddr 10.244.9.5 udp dport 53 ip saddr 10.244.9.0/24 masquerade comment "default/web hairpin"',
        '\t\tip daddr 10.244.9.5 udp dport 53 fib saddr type local masquerade comment "default/web from the node"',
        '\t\tip daddr 10.244.9.6 sctp dport 9001 ip saddr 10.244.9.0/24 masquerade comment "team-a/sig hairpin"',
        '\t\tip daddr 10.244.9.6 sctp dport 9001 fib saddr type local masquerade comment "team-a/sig from the node"',
        '\t\tip daddr 10.244.9.5 tcp dport 80 ip saddr 10.244.9.0/24 masquerade comment "default/web hairpin"',
        '\t\tip daddr 10.244.9.5 tcp dport 80 fib saddr type local masquerade comment "default/web from the node"',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('without a pod subnet only the pod itself is masqueraded on hairpin', () => {
    expect(hostPortScript([SCTP])).toContain('ip daddr 10.244.9.6 sctp dport 9001 ip saddr 10.244.9.6 masquerade comment "team-a/sig hairpin"');
  });

  it('with no mapping left the table is removed, whether it exists or not', () => {
    expect(hostPortScript([])).toBe(REMOVE_ONLY);
    expect(hostPortScript([{ ...WEB, mappings: [] }])).toBe(REMOVE_ONLY);
  });

  it('refuses a mapping nft would misread', () => {
    expect(() => hostPortScript([{ ...WEB, mappings: [{ hostPort: 80, protocol: 'TCP', podIP: '10.244.9.5; flush ruleset', containerPort: 80 }] }])).toThrow(/podIP must be an IPv4 address/);
    expect(() => hostPortScript([{ ...WEB, mappings: [{ hostIP: 'fd00::1', hostPort: 80, protocol: 'TCP', podIP: '10.244.9.5', containerPort: 80 }] }])).toThrow(/IPv6 host ports are not supported/);
    expect(() => hostPortScript([{ ...WEB, mappings: [{ hostPort: 70000, protocol: 'TCP', podIP: '10.244.9.5', containerPort: 80 }] }])).toThrow(/hostPort must be between 1 and 65535/);
  });
});

describe('[hostport] the mappings of a pod', () => {
  const pod = (spec: Partial<Pod['spec']>): Pod =>
    ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u' }, spec: { containers: [], ...spec } }) as Pod;

  it('takes every port with a hostPort of app and init containers; 0.0.0.0 means any address; protocol defaults to TCP', () => {
    const p = pod({
      initContainers: [{ name: 'side', image: 'x', ports: [{ containerPort: 9090, hostPort: 19090, protocol: 'UDP' }] }],
      containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, hostPort: 18080, hostIP: '0.0.0.0' }, { containerPort: 81 }, { containerPort: 82, hostPort: 18082, hostIP: '10.250.0.1' }] }],
    });
    expect(podHostPortMappings(p, '10.244.9.5')).toEqual([
      { hostPort: 19090, protocol: 'UDP', podIP: '10.244.9.5', containerPort: 9090 },
      { hostPort: 18080, protocol: 'TCP', podIP: '10.244.9.5', containerPort: 80 },
      { hostIP: '10.250.0.1', hostPort: 18082, protocol: 'TCP', podIP: '10.244.9.5', containerPort: 82 },
    ]);
  });

  it('a hostNetwork pod needs none: its ports are the host’s already', () => {
    expect(podHostPortMappings(pod({ hostNetwork: true, containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, hostPort: 80 }] }] }), '10.0.0.1')).toEqual([]);
  });
});

describe('[hostport] HostPortMapper', () => {
  function recorder() {
    const calls: { cmd: string; stdin?: string }[] = [];
    const exec = async (file: string, args: string[], stdin?: string) => {
      calls.push({ cmd: [file, ...args].join(' '), ...(stdin !== undefined ? { stdin } : {}) });
      if (file === 'nsenter' && args[1] === 'conntrack') throw new Error('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.');
      return '';
    };
    return { calls, mapper: new HostPortMapper({ exec, netns: '/run/netns/h1', podSubnet: '10.244.9.0/24', log: silentLogger() }) };
  }

  it('rewrites the whole table on each change, clears UDP conntrack of ports that come and go, and removes the table after the last pod', async () => {
    const { calls, mapper } = recorder();
    await mapper.set(WEB);
    await mapper.set(WEB); // the same again: nothing to do
    await mapper.set(SCTP);
    await mapper.remove(WEB.sandboxId);
    await mapper.remove(WEB.sandboxId);
    await mapper.remove(SCTP.sandboxId);
    expect(calls.map((c) => c.cmd)).toEqual([
      'nsenter --net=/run/netns/h1 nft -f -',
      'nsenter --net=/run/netns/h1 conntrack -D -p udp --orig-port-dst 5353 --orig-dst 10.250.0.1',
      'nsenter --net=/run/netns/h1 nft -f -',
      'nsenter --net=/run/netns/h1 nft -f -',
      'nsenter --net=/run/netns/h1 conntrack -D -p udp --orig-port-dst 5353 --orig-dst 10.250.0.1',
      'nsenter --net=/run/netns/h1 nft -f -',
    ]);
    expect(calls[0]!.stdin).toBe(hostPortScript([WEB], { podSubnet: '10.244.9.0/24' }));
    expect(calls[2]!.stdin).toBe(hostPortScript([WEB, SCTP], { podSubnet: '10.244.9.0/24' }));
    expect(calls[3]!.stdin).toBe(hostPortScript([SCTP], { podSubnet: '10.244.9.0/24' }));
    expect(calls[5]!.stdin).toBe(REMOVE_ONLY);
    expect(mapper.current()).toEqual([]);
  });

  it('puts the bridge port of a pod with host ports in hairpin mode once', async () => {
    const { calls, mapper } = recorder();
    await mapper.set({ ...SCTP, hostIfName: 'veth1a2b3c4d' });
    await mapper.set(WEB);
    expect(calls.map((c) => c.cmd)).toEqual([
      'nsenter --net=/run/netns/h1 nft -f -',
      'nsenter --net=/run/netns/h1 ip link set dev veth1a2b3c4d type bridge_slave hairpin on',
      'nsenter --net=/run/netns/h1 nft -f -',
      'nsenter --net=/run/netns/h1 conntrack -D -p udp --orig-port-dst 5353 --orig-dst 10.250.0.1',
    ]);
  });

  it('reconcile writes exactly the sandboxes still there, even when it believes nothing changed', async () => {
    const { calls, mapper } = recorder();
    await mapper.reconcile([SCTP]);
    await mapper.reconcile([]);
    expect(calls.map((c) => c.stdin).filter(Boolean)).toEqual([hostPortScript([SCTP], { podSubnet: '10.244.9.0/24' }), REMOVE_ONLY]);
  });

  it('resync rewrites the table it knows without clearing conntrack, and runs nothing when it never wrote one', async () => {
    const { calls, mapper } = recorder();
    await mapper.resync();
    expect(calls).toEqual([]);
    await mapper.set({ ...WEB, hostIfName: 'veth00000001' });
    calls.length = 0;
    await mapper.resync();
    expect(calls.map((c) => c.cmd)).toEqual(['nsenter --net=/run/netns/h1 nft -f -', 'nsenter --net=/run/netns/h1 ip link set dev veth00000001 type bridge_slave hairpin on']);
    expect(calls[0]!.stdin).toBe(hostPortScript([WEB], { podSubnet: '10.244.9.0/24' }));
    await mapper.remove(WEB.sandboxId);
    calls.length = 0;
    await mapper.resync();
    expect(calls).toEqual([]);
  });

  it('a failed nft call leaves what it believes unchanged, and later changes still run', async () => {
    let fail = true;
    const mapper = new HostPortMapper({
      exec: async () => {
        if (fail) throw new Error('nft: Error: Could not process rule');
        return '';
      },
      log: silentLogger(),
    });
    await expect(mapper.set(WEB)).rejects.toThrow(/Could not process rule/);
    expect(mapper.current()).toEqual([]);
    fail = false;
    await mapper.set(SCTP);
    expect(mapper.current().map((s) => s.pod)).toEqual(['team-a/sig']);
  });
});
