// Pure pieces of the node runtime: container labels (what a restarted agent
// reads back), the pod → OCI spec mapping of pause and app containers, pod
// volumes and the undo stack.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../api/index.js';
import { ContainerStartError } from '../../node-agent/pod-runtime.js';
import { buildOciSpec } from '../../node-agent/runtime/index.js';
import {
  containerNamespaces,
  containerSpecInput,
  pauseSpec,
  podHostname,
  podHostsFile,
  type SandboxPlacement,
} from '../../node-agent/sandbox/container-spec.js';
import { formatLabels, instancesByName, LABELS, parseLabels, type ContainerLabels } from '../../node-agent/sandbox/labels.js';
import { NodeLayout } from '../../node-agent/sandbox/layout.js';
import { UndoStack } from '../../node-agent/sandbox/undo.js';
import { execCommandLine, shellQuote } from '../../node-agent/sandbox/exec-stream.js';
import { createOciRuntime } from '../../node-agent/runtime/index.js';
import { ensureHostPath, podVolumes, resolvedVolumes } from '../../node-agent/sandbox/volumes.js';

const labels: ContainerLabels = {
  pod: { uid: 'u-1', name: 'web', namespace: 'default' },
  kind: 'container',
  containerName: 'nginx',
  sandboxId: 'sb1',
  restartCount: 3,
  specHash: 'abc',
  image: 'reg:5000/library/nginx:1',
  imageId: 'sha256:ff',
};

function pod(spec: Partial<Pod['spec']> = {}, name = 'web'): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: 'u-1' },
    spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
  };
}

describe('[node runtime] container labels', () => {
  it('round-trip through their string form', () => {
    expect(parseLabels(formatLabels(labels))).toEqual(labels);
    const noImageId = { ...labels, imageId: undefined };
    delete noImageId.imageId;
    expect(parseLabels(formatLabels(noImageId))).toEqual(noImageId);
  });

  it.each([
    ['no labels at all', undefined],
    ['no pod uid', { ...formatLabels(labels), [LABELS.podUid]: '' }],
    ['an unknown kind', { ...formatLabels(labels), [LABELS.kind]: 'other' }],
    ['a negative restart count', { ...formatLabels(labels), [LABELS.restartCount]: '-1' }],
    ['a restart count that is not a number', { ...formatLabels(labels), [LABELS.restartCount]: 'x' }],
    ['no sandbox id', { ...formatLabels(labels), [LABELS.sandboxId]: '' }],
  ])('are not a pod container’s with %s', (_, raw) => {
    expect(parseLabels(raw as Record<string, string> | undefined)).toBeUndefined();
  });

  it('order instances of a container newest first: restart count, then creation time; pause is not a container', () => {
    const at = (restartCount: number, createdAt: number, name = 'c', kind: 'container' | 'sandbox' = 'container') => ({
      labels: { ...labels, containerName: name, restartCount, kind },
      createdAt,
      value: `${name}${restartCount}@${createdAt}`,
    });
    const m = instancesByName([at(0, 1), at(2, 5), at(1, 9), at(2, 7), at(0, 3, 'd'), at(0, 0, 'POD', 'sandbox')]);
    expect([...m.keys()].sort()).toEqual(['c', 'd']);
    expect(m.get('c')!.map((i) => i.value)).toEqual(['c2@7', 'c2@5', 'c1@9', 'c0@1']);
  });
});

describe('[node runtime] pod to OCI spec', () => {
  const placement: SandboxPlacement = { netnsPath: '/run/x/netns/sb1', pausePid: 4242, hostNetwork: false, shareProcessNamespace: false };
  const etc = { hostname: '/r/etc/hostname', hosts: '/r/etc/hosts', resolvConf: '/r/etc/resolv.conf' };
  const image = { entrypoint: ['/bin/sh', '-c'], cmd: ['echo image-cmd'], env: ['PATH=/bin', 'FROM_IMAGE=1'], workingDir: '/srv', user: '' };

  it.each([
    ['a pod network pod', placement, { network: { path: '/run/x/netns/sb1' }, ipc: { path: '/proc/4242/ns/ipc' }, uts: { path: '/proc/4242/ns/uts' }, pid: 'new' }],
    [
      'a pod sharing its PID namespace',
      { ...placement, shareProcessNamespace: true },
      { network: { path: '/run/x/netns/sb1' }, ipc: { path: '/proc/4242/ns/ipc' }, uts: { path: '/proc/4242/ns/uts' }, pid: { path: '/proc/4242/ns/pid' } },
    ],
    ['a hostNetwork pod', { pausePid: 7, hostNetwork: true, shareProcessNamespace: false }, { network: 'host', ipc: { path: '/proc/7/ns/ipc' }, uts: 'host', pid: 'new' }],
  ])('containers of %s join the sandbox namespaces', (_, p, want) => {
    expect(containerNamespaces(p as SandboxPlacement)).toEqual(want);
  });

  it('a container gets the image entrypoint/cmd/env/workingDir unless the pod spec overrides them', () => {
    const p = pod({ containers: [{ name: 'c', image: 'busybox', env: [{ name: 'GREETING', value: 'hi $(FROM_IMAGE)' }] }] });
    const spec = buildOciSpec(
      containerSpecInput({ pod: p, container: p.spec.containers[0]!, image, rootfs: '/rootfs', sandbox: placement, hostname: 'web', volumes: {}, etc, cgroupsPath: '/flotilla/n1/podu-1/c1', maxOpenFiles: 1024, pidsLimit: 100 }),
    );
    expect(spec.process.args).toEqual(['/bin/sh', '-c', 'echo image-cmd']);
    expect(spec.process.cwd).toBe('/srv');
    // As Kubernetes: $(VAR) refers to the container's own earlier variables, not the image's (the kubelet never sees those).
    expect(spec.process.env).toEqual(expect.arrayContaining(['PATH=/bin', 'FROM_IMAGE=1', 'GREETING=hi $(FROM_IMAGE)', 'HOSTNAME=web']));
    expect(spec.hostname).toBeUndefined(); // the UTS namespace (and its hostname) is pause's
    expect(spec.linux.namespaces).toEqual(expect.arrayContaining([{ type: 'network', path: '/run/x/netns/sb1' }, { type: 'pid' }, { type: 'mount' }]));
    expect(spec.mounts.filter((m) => m.destination.startsWith('/etc/')).map((m) => [m.destination, m.source])).toEqual([
      ['/etc/hostname', etc.hostname],
      ['/etc/hosts', etc.hosts],
      ['/etc/resolv.conf', etc.resolvConf],
    ]);
    expect(spec.linux.resources.pids).toEqual({ limit: 100 });
    expect(spec.annotations).toMatchObject({ [LABELS.podUid]: 'u-1', [LABELS.podName]: 'web', [LABELS.containerName]: 'c' });

    const withCommand = { name: 'c', image: 'busybox', command: ['sleep'], args: ['10'], workingDir: '/tmp' };
    const spec2 = buildOciSpec(
      containerSpecInput({ pod: p, container: withCommand, image, rootfs: '/rootfs', sandbox: placement, hostname: 'web', volumes: {}, etc, cgroupsPath: '/f/c', maxOpenFiles: 1024 }),
    );
    expect([spec2.process.args, spec2.process.cwd]).toEqual([['sleep', '10'], '/tmp']);
  });

  it('pause runs /pause from a read-only rootfs without capabilities, in new PID/IPC/UTS namespaces with the pod hostname', () => {
    const spec = pauseSpec({ pod: pod(), rootfs: '/run/x/pause-rootfs', pauseBinary: '/opt/pause', netnsPath: '/run/x/netns/sb1', hostname: 'web', cgroupsPath: '/f/podu-1/sb1' });
    expect(spec.process.args).toEqual(['/pause']);
    expect(spec.root).toEqual({ path: '/run/x/pause-rootfs', readonly: true });
    expect(spec.process.capabilities.bounding).toEqual([]);
    expect(spec.hostname).toBe('web');
    expect(spec.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'network', path: '/run/x/netns/sb1' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }]);
    expect(spec.mounts.find((m) => m.destination === '/pause')).toMatchObject({ source: '/opt/pause', options: expect.arrayContaining(['ro']) });

    const host = pauseSpec({ pod: pod({ hostNetwork: true }), rootfs: '/r', pauseBinary: '/opt/pause', hostname: 'web', cgroupsPath: '/f/p/s' });
    expect(host.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'mount']);
    expect(host.hostname).toBeUndefined();
  });

  it.each([
    ['the pod name', pod({}, 'web-0'), 'web-0'],
    ['spec.hostname over the pod name', pod({ hostname: 'custom' }, 'web-0'), 'custom'],
    ['at most 63 characters, no trailing dash', pod({}, `${'a'.repeat(62)}-b`), 'a'.repeat(62)],
  ])('the hostname is %s', (_, p, want) => {
    expect(podHostname(p)).toBe(want);
  });

  it('/etc/hosts names the pod on its IP when it has one', () => {
    expect(podHostsFile('web', '10.244.1.5')).toContain('10.244.1.5\tweb\n');
    expect(podHostsFile('web')).not.toContain('web');
    expect(podHostsFile('web')).toContain('127.0.0.1\tlocalhost');
  });
});

describe('[node runtime] pod volumes', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flotilla-vol-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const layout = new NodeLayout('/var/lib/a', '/run/a');

  it('emptyDirs live under the pod state dir, hostPaths where they are', () => {
    const vols = podVolumes(
      pod({ volumes: [{ name: 'cache', emptyDir: {} }, { name: 'mem', emptyDir: { medium: 'Memory' } }, { name: 'logs', hostPath: { path: '/var/log', type: 'Directory' } }] }),
      layout,
    );
    expect(vols).toEqual([
      { name: 'cache', kind: 'emptyDir', path: '/var/lib/a/pods/u-1/volumes/cache' },
      { name: 'mem', kind: 'emptyDir', path: '/var/lib/a/pods/u-1/volumes/mem', memory: true },
      { name: 'logs', kind: 'hostPath', path: '/var/log', hostPathType: 'Directory' },
    ]);
    expect(resolvedVolumes(vols)).toEqual({ cache: { hostPath: vols[0]!.path }, mem: { hostPath: vols[1]!.path }, logs: { hostPath: '/var/log' } });
  });

  it('hostPath types are checked and the *OrCreate ones made', () => {
    const file = join(tmp, 'file');
    writeFileSync(file, 'x');
    const hp = (path: string, hostPathType: string) => ({ name: 'v', kind: 'hostPath' as const, path, hostPathType });
    expect(() => ensureHostPath(hp(tmp, 'Directory'))).not.toThrow();
    expect(() => ensureHostPath(hp(file, 'File'))).not.toThrow();
    expect(() => ensureHostPath(hp(file, ''))).not.toThrow();
    ensureHostPath(hp(join(tmp, 'made'), 'DirectoryOrCreate'));
    expect(statSync(join(tmp, 'made')).isDirectory()).toBe(true);
    ensureHostPath(hp(join(tmp, 'made-file'), 'FileOrCreate'));
    expect(statSync(join(tmp, 'made-file')).isFile()).toBe(true);
    for (const [path, type, msg] of [
      [join(tmp, 'missing'), '', 'does not exist'],
      [join(tmp, 'missing'), 'Directory', 'does not exist'],
      [file, 'Directory', 'is not a directory'],
      [tmp, 'File', 'is not a file'],
      [tmp, 'Socket', 'is not a socket'],
    ] as const) {
      const e = (() => {
        try {
          ensureHostPath(hp(path, type));
        } catch (err) {
          return err;
        }
      })() as ContainerStartError;
      expect(e).toBeInstanceOf(ContainerStartError);
      expect(e.reason).toBe('CreateContainerConfigError');
      expect(e.message).toBe(`hostPath volume "v": ${path} ${msg}`);
    }
  });
});

describe('[node runtime] undo stack', () => {
  it('undoes newest first, goes on past a failed undo and reports it', async () => {
    const done: string[] = [];
    const u = new UndoStack();
    u.push('a', () => void done.push('a'));
    u.push('b', () => {
      throw new Error('stuck');
    });
    u.push('c', async () => void done.push('c'));
    const failed = await u.rollback();
    expect(done).toEqual(['c', 'a']);
    expect(failed.map((f) => [f.what, (f.error as Error).message])).toEqual([['b', 'stuck']]);
    expect(await u.rollback()).toEqual([]);
  });

  it('forgets everything on commit', async () => {
    const u = new UndoStack();
    let ran = false;
    u.push('x', () => void (ran = true));
    u.commit();
    await u.rollback();
    expect(ran).toBe(false);
  });
});

describe('[node runtime] exec command line', () => {
  const rt = createOciRuntime('crun', { root: '/run/a/runtime/crun' });

  it('runs the runtime directly without a tty', () => {
    expect(execCommandLine(rt, 'abc', ['sh', '-c', 'echo hi'], false)).toEqual({ file: '/usr/bin/crun', args: ['--root=/run/a/runtime/crun', 'exec', 'abc', 'sh', '-c', 'echo hi'] });
  });

  it('runs it under script(1) with a tty, every word quoted for the shell', () => {
    expect(execCommandLine(rt, 'abc', ['sh', '-c', "echo 'a b' $HOME"], true)).toEqual({
      file: '/usr/bin/script',
      args: ['-qefc', `/usr/bin/crun --root=/run/a/runtime/crun exec abc sh -c 'echo '\\''a b'\\'' $HOME'`, '/dev/null'],
    });
  });

  it.each([
    ['plain', 'plain'],
    ['', "''"],
    ['a b', "'a b'"],
    ["it's", `'it'\\''s'`],
    ['$(rm -rf /)', "'$(rm -rf /)'"],
    ['--root=/x/y', '--root=/x/y'],
  ])('quotes %j as %s', (word, want) => {
    expect(shellQuote(word)).toBe(want);
  });
});
