// securityContext, hostAliases/subdomain and cpu requests on real crun: what a
// process in the container sees (id, /proc/self/status, a failed write or
// syscall, a sysctl, /etc/hosts) and the container's cgroup.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Container, Pod, PodSpec } from '../../api/index.js';
import { openLayout, pushImage, RegistryClient } from '../../node-agent/index.js';
import { ContainerStartError } from '../../node-agent/pod-runtime.js';
import type { NodeRuntime } from '../../node-agent/node-runtime.js';
import { startRuntimeFixture, type RuntimeFixture } from '../helpers/node-runtime.js';
import { buildLayout, tarArchive } from '../helpers/registry.js';

async function execIn(rt: NodeRuntime, pod: Pod, container: string, command: string[]) {
  let out = '';
  let err = '';
  const code = await rt.exec(pod, container, {
    command,
    onStdout: (b) => (out += Buffer.from(b).toString('utf8')),
    onStderr: (b) => (err += Buffer.from(b).toString('utf8')),
  });
  return { code, out, err };
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

/**
 * A busybox image whose config says `User: USER`, with its own /etc/passwd
 * and /etc/group (nobody is a member of staff), pushed to the fixture's registry.
 */
async function pushNamedUserImage(fx: RuntimeFixture, tag: string, user: string): Promise<string> {
  const layer = tarArchive([
    { path: 'bin/', type: 'Directory', mode: 0o755 },
    { path: 'bin/busybox', body: readFileSync('/bin/busybox'), mode: 0o755 },
    ...['sh', 'sleep', 'id', 'cat', 'hostname'].map((a) => ({ path: `bin/${a}`, type: 'SymbolicLink' as const, linkpath: 'busybox' })),
    { path: 'etc/', type: 'Directory', mode: 0o755 },
    { path: 'etc/passwd', body: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' },
    { path: 'etc/group', body: 'root:x:0:\nstaff:x:50:nobody\nnogroup:x:65534:\n' },
    ...['proc', 'dev', 'sys', 'tmp'].map((d) => ({ path: `${d}/`, type: 'Directory' as const, mode: 0o755 })),
  ]);
  const ref = `${fx.registry.host}/library/named-user:${tag}`;
  const dir = join(fx.tmp, `named-user-${tag}`);
  buildLayout(dir, ref, [layer], { User: user, Entrypoint: ['/bin/sh', '-c'], Cmd: ['exec sleep 3600'], Env: ['PATH=/bin'] });
  await pushImage(new RegistryClient({ insecureRegistries: [fx.registry.host] }), openLayout(dir), undefined, ref);
  return ref;
}

function statusField(status: string, field: string): string {
  return (new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim();
}

describe.each(['crun', 'runc'])('[node runtime] securityContext, hostAliases and cpu requests on %s', (runtimeName) => {
  let fx: RuntimeFixture;
  const pods: Pod[] = [];

  beforeAll(async () => {
    fx = await startRuntimeFixture(`the securityContext suite (${runtimeName})`, { runtimeName });
  });
  afterAll(async () => {
    for (const p of pods) await fx?.runtime.killPod(p, 0).catch(() => undefined);
    await fx?.cleanup();
  });

  async function run(name: string, c: Partial<Container>, spec: Partial<PodSpec> = {}) {
    const pod = fx.pod(name, [{ name: 'c', command: SLEEP, ...c }], spec);
    pods.push(pod);
    const sandbox = await fx.runtime.createSandbox(pod);
    await fx.runtime.startContainer(pod, sandbox, pod.spec.containers[0]!, 0);
    return { pod, sandbox };
  }

  it('runAsUser, runAsGroup, supplementalGroups and fsGroup show in id; the emptyDir belongs to the fsGroup with setgid', async () => {
    const { pod } = await run(
      'ids',
      { securityContext: { runAsUser: 1000 }, volumeMounts: [{ name: 'data', mountPath: '/data' }] },
      { securityContext: { runAsUser: 2000, runAsGroup: 3000, supplementalGroups: [4000], fsGroup: 5000 }, volumes: [{ name: 'data', emptyDir: {} }] },
    );
    const id = await execIn(fx.runtime, pod, 'c', ['id']);
    expect(id.out.trim()).toMatch(/^uid=1000\(user\) gid=3000 groups=(.*)$/);
    expect(id.out).toContain('4000');
    expect(id.out).toContain('5000');
    const st = await execIn(fx.runtime, pod, 'c', ['sh', '-c', 'touch /data/f && stat -c "%g %A" /data /data/f']);
    expect(st.code).toBe(0);
    const [dir, file] = st.out.trim().split('\n');
    expect(dir).toMatch(/^5000 drwxrwsrwx/);
    expect(file).toMatch(/^5000 /);
  });

  it('fsGroup: a secret volume belongs to the group and a non-root user in it can read its files', async () => {
    const pod = fx.pod('fsgroup-secret', [{ name: 'c', command: SLEEP, securityContext: { runAsUser: 1000, runAsGroup: 1000 }, volumeMounts: [{ name: 's', mountPath: '/s' }] }], {
      securityContext: { fsGroup: 7000 },
      volumes: [{ name: 's', secret: { secretName: 'x', defaultMode: 0o600 } }],
    });
    pods.push(pod);
    await fx.runtime.setUpVolumes(pod, new Map([['s', new Map([['token', { data: Buffer.from('hunter2'), mode: 0o600 }]])]]));
    await fx.runtime.startContainer(pod, await fx.runtime.createSandbox(pod), pod.spec.containers[0]!, 0);
    const r = await execIn(fx.runtime, pod, 'c', ['sh', '-c', 'cat /s/token; echo; stat -L -c "%g %a" /s/token']);
    expect(r.out).toBe('hunter2\n7000 640\n');
  });

  it('readOnlyRootFilesystem: writing / fails, volumes stay writable', async () => {
    const { pod } = await run('ro', { securityContext: { readOnlyRootFilesystem: true }, volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }] }, { volumes: [{ name: 'tmp', emptyDir: {} }] });
    const w = await execIn(fx.runtime, pod, 'c', ['sh', '-c', 'echo x > /file']);
    expect(w.code).not.toBe(0);
    expect(w.err).toMatch(/Read-only file system/);
    expect((await execIn(fx.runtime, pod, 'c', ['sh', '-c', 'echo x > /tmp/file'])).code).toBe(0);
  });

  it('a dropped capability is really gone (chown fails) and allowPrivilegeEscalation false sets NoNewPrivs', async () => {
    const { pod } = await run('caps', { securityContext: { capabilities: { drop: ['CHOWN'] }, allowPrivilegeEscalation: false } });
    const ch = await execIn(fx.runtime, pod, 'c', ['busybox', 'chown', '1000', '/etc/flotilla-release']);
    expect(ch.code).not.toBe(0);
    expect(ch.err).toMatch(/Operation not permitted/);
    const status = (await execIn(fx.runtime, pod, 'c', ['cat', '/proc/self/status'])).out;
    expect(BigInt(`0x${statusField(status, 'CapEff')}`) & 1n).toBe(0n); // CAP_CHOWN is bit 0
    expect(BigInt(`0x${statusField(status, 'CapEff')}`) & (1n << 5n)).toBe(1n << 5n); // CAP_KILL kept
    expect(statusField(status, 'NoNewPrivs')).toBe('1');
    // by default (allowPrivilegeEscalation unset) chown works and no_new_privs is off
    const { pod: plain } = await run('caps-default', {});
    expect((await execIn(fx.runtime, plain, 'c', ['busybox', 'chown', '1000', '/etc/flotilla-release'])).code).toBe(0);
    expect(statusField((await execIn(fx.runtime, plain, 'c', ['cat', '/proc/self/status'])).out, 'NoNewPrivs')).toBe('0');
  });

  it('seccomp RuntimeDefault blocks unshare of a user namespace with EPERM; Unconfined does not', async () => {
    const { pod } = await run('seccomp', {}, { securityContext: { seccompProfile: { type: 'RuntimeDefault' } } });
    const u = await execIn(fx.runtime, pod, 'c', ['busybox', 'unshare', '-U', 'true']);
    expect(u.code).not.toBe(0);
    expect(u.err).toMatch(/Operation not permitted/);
    expect(statusField((await execIn(fx.runtime, pod, 'c', ['cat', '/proc/self/status'])).out, 'Seccomp')).toBe('2');
    const { pod: open } = await run('unconfined', {}, { securityContext: { seccompProfile: { type: 'Unconfined' } } });
    expect(statusField((await execIn(fx.runtime, open, 'c', ['cat', '/proc/self/status'])).out, 'Seccomp')).toBe('0');
    expect((await execIn(fx.runtime, open, 'c', ['busybox', 'unshare', '-U', 'true'])).code).toBe(0);
  });

  it('pod sysctls are set in the pod network and IPC namespaces', async () => {
    const { pod } = await run('sysctl', {}, {
      securityContext: { sysctls: [{ name: 'net.core.somaxconn', value: '777' }, { name: 'net.ipv4.ip_unprivileged_port_start', value: '80' }, { name: 'kernel.shm_rmid_forced', value: '1' }] },
    });
    const s = await execIn(fx.runtime, pod, 'c', ['busybox', 'sysctl', 'net.core.somaxconn', 'net.ipv4.ip_unprivileged_port_start', 'kernel.shm_rmid_forced']);
    expect(s.out).toContain('net.core.somaxconn = 777');
    expect(s.out).toContain('net.ipv4.ip_unprivileged_port_start = 80');
    expect(s.out).toContain('kernel.shm_rmid_forced = 1');
    // the host's value is untouched
    expect(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()).not.toBe('777');
  });

  it('runAsNonRoot on an image that runs as root is a CreateContainerConfigError with the kubelet message', async () => {
    const pod = fx.pod('nonroot', [{ name: 'c', command: SLEEP, securityContext: { runAsNonRoot: true } }]);
    pods.push(pod);
    const sandbox = await fx.runtime.createSandbox(pod);
    const err = await fx.runtime.startContainer(pod, sandbox, pod.spec.containers[0]!, 0).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerStartError);
    expect((err as ContainerStartError).reason).toBe('CreateContainerConfigError');
    expect((err as ContainerStartError).message).toBe(
      `container has runAsNonRoot and image will run as root (pod: "${pod.metadata.name}_default(${pod.metadata.uid})", container: c)`,
    );
    // with a non-root runAsUser it runs
    const ok = fx.pod('nonroot-ok', [{ name: 'c', command: SLEEP, securityContext: { runAsNonRoot: true, runAsUser: 65534 } }]);
    pods.push(ok);
    await fx.runtime.startContainer(ok, await fx.runtime.createSandbox(ok), ok.spec.containers[0]!, 0);
    expect((await execIn(fx.runtime, ok, 'c', ['id', '-u'])).out.trim()).toBe('65534');
  });

  it("an image whose User is a name runs as that user of the image's /etc/passwd, with its /etc/group groups", async () => {
    const image = await pushNamedUserImage(fx, `nobody-${runtimeName}`, 'nobody');
    const { pod } = await run('named-user', { image, command: SLEEP });
    const id = (await execIn(fx.runtime, pod, 'c', ['id'])).out.trim();
    expect(id).toMatch(/^uid=65534\(nobody\) gid=65534\(nogroup\) groups=/);
    expect(id).toContain('50(staff)');
    // runAsNonRoot cannot verify a named user: refused before the lookup, in the kubelet words
    const guarded = fx.pod('named-nonroot', [{ name: 'c', image, command: SLEEP, securityContext: { runAsNonRoot: true } }]);
    pods.push(guarded);
    const err = await fx.runtime.startContainer(guarded, await fx.runtime.createSandbox(guarded), guarded.spec.containers[0]!, 0).then(() => undefined, (e: unknown) => e);
    expect((err as ContainerStartError).reason).toBe('CreateContainerConfigError');
    expect((err as ContainerStartError).message).toMatch(/^container has runAsNonRoot and image has non-numeric user \(nobody\), cannot verify user is non-root/);
  });

  it('an image User the image does not define is a CreateContainerError naming the user and the image', async () => {
    const image = await pushNamedUserImage(fx, `ghost-${runtimeName}`, 'ghost:staff');
    const pod = fx.pod('ghost-user', [{ name: 'c', image, command: SLEEP }]);
    pods.push(pod);
    const err = await fx.runtime.startContainer(pod, await fx.runtime.createSandbox(pod), pod.spec.containers[0]!, 0).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ContainerStartError);
    expect((err as ContainerStartError).reason).toBe('CreateContainerError');
    expect((err as ContainerStartError).message).toBe(`failed to generate container "c" spec: unable to find user ghost: no matching entries in /etc/passwd of image "${image}"`);
  });

  it('setHostnameAsFQDN: the UTS hostname, /etc/hostname and HOSTNAME are the FQDN; over 64 characters the sandbox fails', async () => {
    const { pod } = await run('fqdn', {}, { hostname: 'db-0', subdomain: 'db', setHostnameAsFQDN: true });
    const fqdn = 'db-0.db.default.svc.cluster.local';
    expect((await execIn(fx.runtime, pod, 'c', ['hostname'])).out.trim()).toBe(fqdn);
    expect((await execIn(fx.runtime, pod, 'c', ['cat', '/etc/hostname'])).out.trim()).toBe(fqdn);
    expect((await execIn(fx.runtime, pod, 'c', ['sh', '-c', 'echo $HOSTNAME'])).out.trim()).toBe(fqdn);
    const long = fx.pod('fqdn-long', [{ name: 'c', command: SLEEP }], { hostname: 'h'.repeat(40), subdomain: 'db', setHostnameAsFQDN: true });
    pods.push(long);
    await expect(fx.runtime.createSandbox(long)).rejects.toThrow(/^failed to construct FQDN from pod hostname and cluster domain, FQDN h+\.db\.default\.svc\.cluster\.local is too long \(64 characters is the max, 69 characters requested\)$/);
    expect(await fx.runtime.listPods().then((l) => l.some((p) => p.uid === long.metadata.uid))).toBe(false);
  });

  it('privileged: all capabilities, host devices, writable /sys, no seccomp', async () => {
    const { pod } = await run('priv', { securityContext: { privileged: true } }, { securityContext: { seccompProfile: { type: 'RuntimeDefault' } } });
    const status = (await execIn(fx.runtime, pod, 'c', ['cat', '/proc/self/status'])).out;
    expect(BigInt(`0x${statusField(status, 'CapEff')}`) & (1n << 21n)).toBe(1n << 21n); // CAP_SYS_ADMIN
    expect(statusField(status, 'Seccomp')).toBe('0');
    const sys = (await execIn(fx.runtime, pod, 'c', ['sh', '-c', 'grep " /sys " /proc/mounts'])).out;
    // runc 1.1.5 mounts sysfs read-only here whatever the spec asks (the spec says rw: runtime-spec.test.ts).
    expect(sys.trim().split('\n').pop()).toMatch(runtimeName === 'crun' ? /sysfs rw/ : /sysfs r[ow]/);
    expect((await execIn(fx.runtime, pod, 'c', ['ls', '/dev/loop-control'])).code).toBe(readdirSync('/dev').includes('loop-control') ? 0 : 1);
  });

  it('/etc/hosts has the hostAliases block and the FQDN of a pod with hostname and subdomain; the UTS hostname is spec.hostname', async () => {
    const { pod } = await run('hosts', {}, { hostname: 'db-0', subdomain: 'db', hostAliases: [{ ip: '10.1.2.3', hostnames: ['foo.local', 'bar.local'] }] });
    const hosts = (await execIn(fx.runtime, pod, 'c', ['cat', '/etc/hosts'])).out;
    expect(hosts).toContain('# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n');
    expect((await execIn(fx.runtime, pod, 'c', ['hostname'])).out.trim()).toBe('db-0');
  });

  it('resources.requests.cpu sets the container cgroup cpu.shares (and BestEffort gets 2)', async () => {
    const { pod, sandbox } = await run('cpu', { resources: { requests: { cpu: '250m' } } });
    const { pod: be, sandbox: beSandbox } = await run('cpu-be', {});
    const shares = (p: Pod, sandboxId: string) => {
      const dir = join('/sys/fs/cgroup/cpu', fx.cgroupParent, `pod${p.metadata.uid}`);
      const leaf = readdirSync(dir, { withFileTypes: true }).find((e) => e.isDirectory() && e.name !== sandboxId)!;
      return readFileSync(join(dir, leaf.name, 'cpu.shares'), 'utf8').trim();
    };
    expect(shares(pod, sandbox.id)).toBe('256');
    expect(shares(be, beSandbox.id)).toBe('2');
  });
});
