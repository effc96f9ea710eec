import { describe, expect, it } from 'vitest';
import {
  buildOciSpec,
  cgroupResources,
  DEFAULT_CAPABILITIES,
  expandVars,
  InvalidContainerConfigError,
  maxOpenFilesFromLimits,
  milliCpuToShares,
  processArgs,
  processEnv,
  type OciSpecInput,
} from '../../node-agent/runtime/index.js';

function input(over: Partial<OciSpecInput> = {}): OciSpecInput {
  return {
    container: { name: 'app', command: ['sleep', '1'] },
    rootfs: '/var/lib/flotilla/rootfs/abc',
    hostname: 'web-0',
    namespaces: { network: { path: '/run/flotilla/netns/p1' }, ipc: { path: '/proc/42/ns/ipc' }, uts: { path: '/proc/42/ns/uts' }, pid: 'new' },
    cgroupsPath: '/flotilla/podu1/c1',
    ...over,
  };
}

describe('[runtime] process args follow Kubernetes command/args semantics', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['--default'] };
  it.each([
    ['neither set: image Entrypoint + Cmd', {}, ['/entry', '--default']],
    ['command set: replaces Entrypoint and drops Cmd', { command: ['/bin/app'] }, ['/bin/app']],
    ['args set: replace Cmd after the image Entrypoint', { args: ['--port', '80'] }, ['/entry', '--port', '80']],
    ['both set: command + args', { command: ['/bin/app'], args: ['-v'] }, ['/bin/app', '-v']],
    ['empty lists count as not set', { command: [], args: [] }, ['/entry', '--default']],
  ])('%s', (_name, c, want) => {
    expect(processArgs(c, image)).toEqual(want);
  });

  it('an image with only Cmd runs Cmd', () => {
    expect(processArgs({}, { Cmd: ['sh'] })).toEqual(['sh']);
  });

  it('no command anywhere is a clear error', () => {
    expect(() => buildOciSpec(input({ container: { name: 'x' }, image: {} }))).toThrow(InvalidContainerConfigError);
    expect(() => buildOciSpec(input({ container: { name: 'x' }, image: {} }))).toThrow(/no command given/);
  });
});

describe('[runtime] environment', () => {
  it('image env comes first, container env overrides it, PATH is defaulted', () => {
    expect(processEnv([{ name: 'A', value: '2' }, { name: 'B', value: 'b' }], { Env: ['A=1', 'C=3'] })).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'A=2',
      'C=3',
      'B=b',
    ]);
  });

  it("keeps the image's PATH", () => {
    expect(processEnv([], { Env: ['PATH=/opt/bin'] })).toEqual(['PATH=/opt/bin']);
  });

  it.each([
    ['$(A)-x', 'a-x'],
    ['$$(A)', '$(A)'],
    ['$(MISSING)', '$(MISSING)'],
    ['cost $5', 'cost $5'],
    ['$(A', '$(A'],
  ])('expands %s to %s', (s, want) => {
    expect(expandVars(s, new Map([['A', 'a']]))).toBe(want);
  });

  it('container env values and args refer to earlier variables with $(VAR)', () => {
    const spec = buildOciSpec(
      input({ container: { name: 'app', command: ['echo', '$(GREETING)'], env: [{ name: 'NAME', value: 'pod' }, { name: 'GREETING', value: 'hi $(NAME)' }] } }),
    );
    expect(spec.process.env).toContain('GREETING=hi pod');
    expect(spec.process.env).toContain('HOSTNAME=web-0');
    expect(spec.process.args).toEqual(['echo', 'hi pod']);
  });
});

describe('[runtime] buildOciSpec', () => {
  it('working dir: the container’s, else the image’s, else /', () => {
    expect(buildOciSpec(input({ container: { name: 'a', command: ['x'], workingDir: '/srv' }, image: { WorkingDir: '/app' } })).process.cwd).toBe('/srv');
    expect(buildOciSpec(input({ image: { WorkingDir: '/app' } })).process.cwd).toBe('/app');
    expect(buildOciSpec(input()).process.cwd).toBe('/');
  });

  it('runs as root unless the image names a user; a name an image without /etc/passwd cannot resolve fails', () => {
    expect(buildOciSpec(input()).process.user).toEqual({ uid: 0, gid: 0 });
    expect(buildOciSpec(input({ image: { User: '1000:50' } })).process.user).toEqual({ uid: 1000, gid: 50 });
    // a uid the image does not list (no /etc/passwd here) runs with gid 0, as containerd's WithUserID
    expect(buildOciSpec(input({ image: { User: '1000' } })).process.user).toEqual({ uid: 1000, gid: 0 });
    expect(() => buildOciSpec(input({ image: { User: 'nginx' } }))).toThrow('failed to generate container "app" spec: unable to find user nginx: the image has no /etc/passwd');
  });

  it('joins the sandbox network, ipc and uts namespaces by path and gets its own pid and mount namespaces', () => {
    const spec = buildOciSpec(input());
    expect(spec.linux.namespaces).toEqual([
      { type: 'pid' },
      { type: 'network', path: '/run/flotilla/netns/p1' },
      { type: 'ipc', path: '/proc/42/ns/ipc' },
      { type: 'uts', path: '/proc/42/ns/uts' },
      { type: 'mount' },
    ]);
    // the hostname belongs to the sandbox's UTS namespace
    expect(spec.hostname).toBeUndefined();
  });

  it('joins the sandbox pid namespace when the pod shares its process namespace', () => {
    const spec = buildOciSpec(input({ namespaces: { network: 'host', ipc: 'new', uts: 'new', pid: { path: '/proc/42/ns/pid' } } }));
    expect(spec.linux.namespaces).toEqual([{ type: 'pid', path: '/proc/42/ns/pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }]);
    expect(spec.hostname).toBe('web-0');
  });

  it('has the default capability set, no_new_privs, masked and read-only /proc paths', () => {
    const spec = buildOciSpec(input());
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    for (const set of ['bounding', 'effective', 'permitted'] as const) expect(spec.process.capabilities[set]).toEqual([...DEFAULT_CAPABILITIES]);
    expect(spec.process.capabilities.inheritable).toEqual([]);
    expect(spec.process.capabilities.ambient).toEqual([]);
    expect(spec.process.capabilities.bounding).not.toContain('CAP_SYS_ADMIN');
    expect(spec.process.noNewPrivileges).toBe(true);
    for (const p of ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/sched_debug', '/sys/firmware', '/proc/scsi', '/proc/acpi']) {
      expect(spec.linux.maskedPaths).toContain(p);
    }
    expect(spec.linux.readonlyPaths).toEqual(['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  });

  it('mounts /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue and a read-only /sys', () => {
    const spec = buildOciSpec(input());
    const byDest = Object.fromEntries(spec.mounts.map((m) => [m.destination, m]));
    expect(byDest['/proc']!.type).toBe('proc');
    expect(byDest['/dev']!.type).toBe('tmpfs');
    expect(byDest['/dev/pts']!.type).toBe('devpts');
    expect(byDest['/dev/shm']!.type).toBe('tmpfs');
    expect(byDest['/dev/mqueue']!.type).toBe('mqueue');
    expect(byDest['/sys']).toMatchObject({ type: 'sysfs' });
    expect(byDest['/sys']!.options).toContain('ro');
  });

  it('bind-mounts the sandbox’s hostname, hosts, resolv.conf and shm', () => {
    const spec = buildOciSpec(
      input({ sandboxFiles: { hostname: '/run/f/p1/hostname', hosts: '/run/f/p1/hosts', resolvConf: '/run/f/p1/resolv.conf', shm: '/run/f/p1/shm' } }),
    );
    const binds = spec.mounts.filter((m) => m.type === 'bind').map((m) => [m.destination, m.source, m.options?.includes('ro') ? 'ro' : 'rw']);
    expect(binds).toEqual([
      ['/dev/shm', '/run/f/p1/shm', 'rw'],
      ['/etc/hostname', '/run/f/p1/hostname', 'ro'],
      ['/etc/hosts', '/run/f/p1/hosts', 'rw'],
      ['/etc/resolv.conf', '/run/f/p1/resolv.conf', 'rw'],
    ]);
  });

  it('mounts volumes (emptyDir, hostPath) where the container asks, read-only when asked, with subPath', () => {
    const spec = buildOciSpec(
      input({
        container: {
          name: 'app',
          command: ['x'],
          volumeMounts: [
            { name: 'cache', mountPath: '/cache' },
            { name: 'cfg', mountPath: '/etc/app', readOnly: true },
            { name: 'cache', mountPath: '/data', subPath: 'sub' },
          ],
        },
        volumes: { cache: { hostPath: '/var/lib/flotilla/pods/u1/volumes/cache' }, cfg: { hostPath: '/etc/host-app' } },
      }),
    );
    const vols = spec.mounts.slice(-3);
    expect(vols).toEqual([
      { destination: '/cache', type: 'bind', source: '/var/lib/flotilla/pods/u1/volumes/cache', options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/etc/app', type: 'bind', source: '/etc/host-app', options: ['rbind', 'rprivate', 'ro'] },
      { destination: '/data', type: 'bind', source: '/var/lib/flotilla/pods/u1/volumes/cache/sub', options: ['rbind', 'rprivate', 'rw'] },
    ]);
  });

  it('a volume mount naming an undefined volume is refused', () => {
    expect(() => buildOciSpec(input({ container: { name: 'a', command: ['x'], volumeMounts: [{ name: 'nope', mountPath: '/x' }] } }))).toThrow(
      /volume "nope" is not defined/,
    );
  });

  it('uses an absolute cgroups path and refuses a relative one', () => {
    expect(buildOciSpec(input()).linux.cgroupsPath).toBe('/flotilla/podu1/c1');
    expect(() => buildOciSpec(input({ cgroupsPath: 'flotilla/podu1/c1' }))).toThrow(/absolute/);
  });

  it('sets RLIMIT_NOFILE to what the host allows', () => {
    expect(buildOciSpec(input({ maxOpenFiles: 20000 })).process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
    const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 20000                files\n';
    expect(maxOpenFilesFromLimits(limits)).toBe(20000);
    expect(maxOpenFilesFromLimits(limits.replace('20000', 'unlimited'))).toBe(1048576);
  });

  it('records the container name and the given annotations', () => {
    const spec = buildOciSpec(input({ annotations: { 'io.kubernetes.pod.uid': 'u1' } }));
    expect(spec.annotations).toEqual({ 'io.kubernetes.pod.uid': 'u1', 'io.kubernetes.container.name': 'app' });
  });

  it('is pure: the same input gives the same spec', () => {
    expect(buildOciSpec(input())).toEqual(buildOciSpec(input()));
  });
});

describe('[runtime] cgroup resources from container resources', () => {
  it.each([
    ['cpu limit 500m → 50 ms quota per 100 ms', { limits: { cpu: '500m' } }, { shares: 512, quota: 50_000, period: 100_000 }],
    ['cpu limit 2 → 200 ms quota', { limits: { cpu: '2' } }, { shares: 2048, quota: 200_000, period: 100_000 }],
    ['tiny cpu limit is raised to the 1 ms minimum quota', { limits: { cpu: '1m' } }, { shares: 2, quota: 1000, period: 100_000 }],
    ['request only → shares, no quota', { requests: { cpu: '250m' } }, { shares: 256 }],
    ['nothing → minimum shares', {}, { shares: 2 }],
  ])('%s', (_n, resources, cpu) => {
    expect(cgroupResources(resources).cpu).toEqual(cpu);
  });

  it('memory limit becomes limit and swap (no swap beyond the limit)', () => {
    expect(cgroupResources({ limits: { memory: '64Mi' } }).memory).toEqual({ limit: 67108864, swap: 67108864 });
    expect(cgroupResources({ limits: { memory: '1G' } }).memory).toEqual({ limit: 1e9, swap: 1e9 });
    expect(cgroupResources({}).memory).toBeUndefined();
  });

  it('pids limit is set when given; devices default-deny with the standard ones allowed', () => {
    const r = cgroupResources({}, 1024);
    expect(r.pids).toEqual({ limit: 1024 });
    expect(r.devices[0]).toEqual({ allow: false, access: 'rwm' });
    expect(r.devices).toContainEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
  });

  it('converts millicores to shares within the kernel bounds', () => {
    expect([0, 1, 1000, 300_000].map(milliCpuToShares)).toEqual([2, 2, 1024, 262144]);
  });
});

// ---------------------------------------------------------------------------
// securityContext → OCI spec (node-agent/runtime/spec.ts, sandbox/container-spec.ts).
import { effectiveSecurity } from '../../api/kinds/pod-security.js';
import { containerCapabilities, runtimeDefaultSeccomp } from '../../node-agent/runtime/index.js';
import { containerSpecInput, podHostsFile, pauseSpec } from '../../node-agent/sandbox/container-spec.js';

describe('[runtime] securityContext in the OCI spec', () => {
  const sec = (pod: Record<string, unknown> = {}, c: Record<string, unknown> = {}) => effectiveSecurity(pod as never, c as never);
  const podRef = { name: 'web', namespace: 'default', uid: 'u-1' };

  it('runAsUser/runAsGroup (container over pod), supplementalGroups and fsGroup as additional gids', () => {
    const spec = buildOciSpec(input({ security: sec({ runAsUser: 1, runAsGroup: 2, fsGroup: 2000, supplementalGroups: [4000, 2000] }, { runAsUser: 1000 }), image: { User: '5' } }));
    expect(spec.process.user).toEqual({ uid: 1000, gid: 2, additionalGids: [4000, 2000] });
    // runAsUser without runAsGroup: gid 0, as with other runtimes
    expect(buildOciSpec(input({ security: sec({}, { runAsUser: 1000 }) })).process.user).toEqual({ uid: 1000, gid: 0 });
    // nothing set: the image's user
    expect(buildOciSpec(input({ security: sec(), image: { User: '7:8' } })).process.user).toEqual({ uid: 7, gid: 8 });
  });

  it('runAsNonRoot refuses root and unverifiable users in the kubelet words', () => {
    expect(() => buildOciSpec(input({ security: sec({ runAsNonRoot: true }), podRef }))).toThrow(
      'container has runAsNonRoot and image will run as root (pod: "web_default(u-1)", container: app)',
    );
    expect(() => buildOciSpec(input({ security: sec({ runAsNonRoot: true }), podRef, image: { User: 'nginx' } }))).toThrow(
      'container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: "web_default(u-1)", container: app)',
    );
    expect(() => buildOciSpec(input({ security: sec({ runAsNonRoot: true, runAsUser: 0 }), podRef }))).toThrow(/runAsUser breaks non-root policy/);
    expect(buildOciSpec(input({ security: sec({ runAsNonRoot: true }, { runAsUser: 1000 }), image: { User: 'nginx' } })).process.user.uid).toBe(1000);
    expect(buildOciSpec(input({ security: sec({}, { runAsNonRoot: true }), image: { User: '65534' } })).process.user.uid).toBe(65534);
  });

  it('capabilities: the default set, drop ALL then add, names with or without CAP_', () => {
    expect(containerCapabilities(sec())).toEqual([...DEFAULT_CAPABILITIES]);
    expect(containerCapabilities(sec({}, { capabilities: { drop: ['ALL'], add: ['net_admin', 'CAP_CHOWN'] } }))).toEqual(['CAP_NET_ADMIN', 'CAP_CHOWN']);
    const dropped = containerCapabilities(sec({}, { capabilities: { drop: ['CHOWN', 'CAP_KILL'], add: ['SYS_TIME'] } }));
    expect(dropped).not.toContain('CAP_CHOWN');
    expect(dropped).not.toContain('CAP_KILL');
    expect(dropped).toContain('CAP_SYS_TIME');
    const spec = buildOciSpec(input({ security: sec({}, { capabilities: { drop: ['ALL'] } }) }));
    expect(spec.process.capabilities).toEqual({ bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] });
  });

  it('allowPrivilegeEscalation: no_new_privs only when false; readOnlyRootFilesystem makes the root read-only', () => {
    expect(buildOciSpec(input({ security: sec() })).process.noNewPrivileges).toBe(false);
    expect(buildOciSpec(input({ security: sec({}, { allowPrivilegeEscalation: false }) })).process.noNewPrivileges).toBe(true);
    expect(buildOciSpec(input({ security: sec({}, { readOnlyRootFilesystem: true }) })).root.readonly).toBe(true);
    expect(buildOciSpec(input({ security: sec() })).root.readonly).toBe(false);
  });

  it('privileged: every capability, every device, writable /sys, no masked or read-only paths, no seccomp', () => {
    const spec = buildOciSpec(
      input({
        security: sec({ seccompProfile: { type: 'RuntimeDefault' } }, { privileged: true }),
        hostDevices: [{ path: '/dev/loop0', type: 'b', major: 7, minor: 0 }],
      }),
    );
    expect(spec.process.capabilities.bounding).toContain('CAP_SYS_ADMIN');
    expect(spec.process.capabilities.bounding).toHaveLength(41);
    expect(spec.linux.resources.devices).toEqual([{ allow: true, access: 'rwm' }]);
    expect(spec.linux.devices).toEqual([{ path: '/dev/loop0', type: 'b', major: 7, minor: 0 }]);
    expect(spec.linux.maskedPaths).toEqual([]);
    expect(spec.linux.readonlyPaths).toEqual([]);
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.mounts.find((m) => m.destination === '/sys')!.options).toContain('rw');
    expect(spec.process.noNewPrivileges).toBe(false);
  });

  it('seccomp RuntimeDefault: a denylist answering EPERM, namespaces blocked without CAP_SYS_ADMIN; Unconfined: none', () => {
    const spec = buildOciSpec(input({ security: sec({ seccompProfile: { type: 'RuntimeDefault' } }) }));
    const sc = spec.linux.seccomp!;
    expect(sc.defaultAction).toBe('SCMP_ACT_ALLOW');
    const denied = sc.syscalls[0]!;
    expect(denied).toMatchObject({ action: 'SCMP_ACT_ERRNO', errnoRet: 1 });
    for (const n of ['kexec_load', 'init_module', 'finit_module', 'delete_module', 'reboot', 'swapon', 'mount', 'umount2', 'unshare', 'keyctl', 'add_key', 'bpf', 'perf_event_open', 'userfaultfd', 'open_by_handle_at', 'clock_settime', 'settimeofday', 'acct', 'iopl', 'pivot_root']) {
      expect(denied.names).toContain(n);
    }
    expect(sc.syscalls.filter((r) => r.names[0] === 'clone').map((r) => r.args![0]!.value)).toContain(0x10000000);
    expect(sc.syscalls.find((r) => r.names[0] === 'clone3')).toMatchObject({ errnoRet: 38 });
    // a container that holds CAP_SYS_ADMIN / CAP_SYS_TIME may use what they allow
    const admin = runtimeDefaultSeccomp(['CAP_SYS_ADMIN', 'CAP_SYS_TIME']);
    expect(admin.syscalls[0]!.names).not.toContain('mount');
    expect(admin.syscalls[0]!.names).not.toContain('clock_settime');
    expect(admin.syscalls[0]!.names).not.toContain('bpf'); // CAP_SYS_ADMIN allowed bpf before CAP_BPF existed
    expect(admin.syscalls[0]!.names).toContain('reboot');
    expect(admin.syscalls.some((r) => r.names[0] === 'clone')).toBe(false);
    expect(buildOciSpec(input({ security: sec({ seccompProfile: { type: 'RuntimeDefault' } }, { seccompProfile: { type: 'Unconfined' } }) })).linux.seccomp).toBeUndefined();
  });

  it('the container spec input carries the pod and container securityContext; the pause spec carries the sysctls', () => {
    const pod = {
      metadata: { name: 'web', namespace: 'ns1', uid: 'u-9' },
      spec: {
        containers: [{ name: 'app', image: 'busybox' }],
        securityContext: { runAsUser: 1000, sysctls: [{ name: 'net.core.somaxconn', value: '1024' }, { name: 'kernel/shm_rmid_forced', value: '1' }] },
      },
    } as never;
    const inp = containerSpecInput({
      pod,
      container: { name: 'app', image: 'busybox', command: ['sh'], securityContext: { readOnlyRootFilesystem: true } },
      image: { entrypoint: null, cmd: null, env: [], workingDir: '', user: '' } as never,
      rootfs: '/r',
      sandbox: { netnsPath: '/run/n', pausePid: 5, hostNetwork: false, shareProcessNamespace: false },
      hostname: 'web',
      volumes: {},
      etc: { hostname: '/e/h', hosts: '/e/hosts', resolvConf: '/e/r' },
      cgroupsPath: '/f/p/c',
      maxOpenFiles: 1024,
    });
    expect(inp.security).toMatchObject({ runAsUser: 1000, readOnlyRootFilesystem: true });
    expect(inp.podRef).toEqual({ name: 'web', namespace: 'ns1', uid: 'u-9' });
    const p = pauseSpec({ pod, rootfs: '/p', pauseBinary: '/pause', netnsPath: '/run/n', hostname: 'web', cgroupsPath: '/f/p/s' });
    expect(p.linux.sysctl).toEqual({ 'net.core.somaxconn': '1024', 'kernel.shm_rmid_forced': '1' });
  });
});

describe('[runtime] the pod /etc/hosts', () => {
  it('has the FQDN with a subdomain and the kubelet HostAliases block', () => {
    expect(podHostsFile('web-0', '10.244.1.5', { subdomain: 'svc1', namespace: 'ns1', hostAliases: [{ ip: '10.1.2.3', hostnames: ['foo.local', 'bar'] }] })).toBe(
      [
        '# Kubernetes-managed hosts file (flotilla).',
        '127.0.0.1\tlocalhost',
        '::1\tlocalhost ip6-localhost ip6-loopback',
        '10.244.1.5\tweb-0.svc1.ns1.svc.cluster.local\tweb-0',
        '',
        '# Entries added by HostAliases.',
        '10.1.2.3\tfoo.local\tbar',
        '',
      ].join('\n'),
    );
    expect(podHostsFile('web', '10.0.0.1')).toContain('10.0.0.1\tweb\n');
  });
});

import { sharesToWeight } from '../../node-agent/runtime/index.js';

describe('[runtime] cpu requests on cgroup v2', () => {
  it('converts shares to cpu.weight as runc and the kubelet do', () => {
    expect(sharesToWeight(2)).toBe(1); // BestEffort
    expect(sharesToWeight(milliCpuToShares(250))).toBe(10); // 256 shares
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
  });
});
