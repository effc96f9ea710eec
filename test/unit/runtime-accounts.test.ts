// Image users and groups: /etc/passwd and /etc/group read from the rootfs
// (never through a symlink out of it), `user[:group]` resolved against them as
// containerd does, and what a container's OCI spec gets from that.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { effectiveSecurity } from '../../api/kinds/pod-security.js';
import type { Pod } from '../../api/index.js';
import {
  buildOciSpec,
  InvalidContainerConfigError,
  parseGroup,
  parsePasswd,
  readRootfsAccounts,
  resolveInRoot,
  resolveUser,
  UnknownAccountError,
  type OciSpecInput,
  type RootfsAccounts,
} from '../../node-agent/runtime/index.js';
import { podKernelHostname } from '../../node-agent/sandbox/container-spec.js';

const accounts: RootfsAccounts = {
  passwd: [
    'root:x:0:0:root:/root:/bin/sh',
    '# a comment',
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
    'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
    'app:x:1000:1000::/home/app:/bin/sh',
    'broken:x:notanumber:1',
    '',
  ].join('\n'),
  group: ['root:x:0:', 'www-data:x:33:', 'staff:x:50:app,www-data', 'video:x:44:app', 'nogroup:x:65534:', 'app:x:1000:'].join('\n'),
};

describe('[runtime] image accounts: parsing', () => {
  it('passwd and group entries, malformed lines and comments skipped', () => {
    expect(parsePasswd(accounts.passwd!).map((e) => e.name)).toEqual(['root', 'nobody', 'www-data', 'app']);
    expect(parsePasswd(accounts.passwd!)[1]).toEqual({ name: 'nobody', uid: 65534, gid: 65534 });
    expect(parseGroup(accounts.group!).find((g) => g.name === 'staff')).toEqual({ name: 'staff', gid: 50, members: ['app', 'www-data'] });
    expect(parseGroup('root:x:0:\nbad:x:y:\n')).toEqual([{ name: 'root', gid: 0, members: [] }]);
  });
});

describe('[runtime] image accounts: resolving user[:group] as containerd does', () => {
  const uidAsGid = (uid: number) => uid;
  it.each([
    ['empty: root', '', { uid: 0, gid: 0, imageGroups: [] }],
    ['a name: its uid and primary gid', 'nobody', { uid: 65534, gid: 65534, imageGroups: [] }],
    ['a name with a dash', 'www-data', { uid: 33, gid: 33, imageGroups: [50] }],
    ['name:group', 'nobody:nogroup', { uid: 65534, gid: 65534, imageGroups: [] }],
    ['uid:group name', '1000:staff', { uid: 1000, gid: 50, imageGroups: [50, 44] }],
    ['name:gid', 'app:44', { uid: 1000, gid: 44, imageGroups: [50, 44] }],
    ['a listed uid: its primary gid from /etc/passwd and its groups', '33', { uid: 33, gid: 33, imageGroups: [50] }],
    ['an unlisted uid: the fallback gid, no groups', '4242', { uid: 4242, gid: 4242, imageGroups: [] }],
    ['uid:gid stays as given', '4242:7', { uid: 4242, gid: 7, imageGroups: [] }],
  ])('%s (%s)', (_, user, want) => {
    expect(resolveUser(user, accounts, uidAsGid)).toEqual(want);
  });

  it('numbers need no account files at all', () => {
    expect(resolveUser('1000:50', {}, uidAsGid)).toEqual({ uid: 1000, gid: 50, imageGroups: [] });
    expect(resolveUser('1000', {}, () => 0)).toEqual({ uid: 1000, gid: 0, imageGroups: [] });
  });

  it('a name the image does not define, or an image without the file, is an UnknownAccountError', () => {
    expect(() => resolveUser('ghost', accounts, uidAsGid)).toThrow(new UnknownAccountError('user', 'ghost', false));
    expect(() => resolveUser('ghost', accounts, uidAsGid)).toThrow('unable to find user ghost: no matching entries in /etc/passwd of the image');
    expect(() => resolveUser('app:wheel', accounts, uidAsGid)).toThrow('unable to find group wheel: no matching entries in /etc/group of the image');
    expect(() => resolveUser('nobody', {}, uidAsGid)).toThrow('unable to find user nobody: the image has no /etc/passwd');
    expect(() => resolveUser('0:staff', { passwd: accounts.passwd }, uidAsGid)).toThrow('unable to find group staff: the image has no /etc/group');
  });
});

describe('[runtime] image accounts: reading them from the rootfs', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flotilla-accounts-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  function rootfs(name: string): string {
    const r = join(tmp, name);
    mkdirSync(join(r, 'etc'), { recursive: true });
    return r;
  }

  it('reads /etc/passwd and /etc/group; a missing file is absent', () => {
    const r = rootfs('plain');
    writeFileSync(join(r, 'etc', 'passwd'), 'nobody:x:65534:65534::/:/bin/false\n');
    expect(readRootfsAccounts(r)).toEqual({ passwd: 'nobody:x:65534:65534::/:/bin/false\n' });
  });

  it('follows symlinks inside the rootfs, never out of it', () => {
    const r = rootfs('links');
    // The host's files must not be read: an absolute link and a climb out both land inside the rootfs.
    mkdirSync(join(tmp, 'host-etc'), { recursive: true });
    writeFileSync(join(tmp, 'host-etc', 'passwd'), 'hostuser:x:0:0::/:/bin/sh\n');
    mkdirSync(join(r, 'usr', 'lib'), { recursive: true });
    writeFileSync(join(r, 'usr', 'lib', 'passwd'), 'imageuser:x:7:7::/:/bin/sh\n');
    symlinkSync('/usr/lib/passwd', join(r, 'etc', 'passwd'));
    symlinkSync(`../../../../../../../../${tmp}/host-etc/passwd`, join(r, 'etc', 'group'));
    expect(resolveInRoot(r, '/etc/passwd')).toBe(join(r, 'usr', 'lib', 'passwd'));
    expect(resolveInRoot(r, '/etc/group')).toBe(join(r, tmp, 'host-etc', 'passwd'));
    expect(readRootfsAccounts(r)).toEqual({ passwd: 'imageuser:x:7:7::/:/bin/sh\n' });
  });

  it('a symlink loop or a directory in place of the file reads as absent', () => {
    const r = rootfs('loop');
    symlinkSync('/etc/group', join(r, 'etc', 'passwd'));
    symlinkSync('/etc/passwd', join(r, 'etc', 'group'));
    expect(() => resolveInRoot(r, '/etc/passwd')).toThrow(/too many levels of symbolic links/);
    expect(readRootfsAccounts(r)).toEqual({});
    const d = rootfs('dir');
    mkdirSync(join(d, 'etc', 'passwd'));
    expect(readRootfsAccounts(d)).toEqual({});
  });
});

describe('[runtime] image user names in the OCI spec', () => {
  const sec = (pod: Record<string, unknown> = {}, c: Record<string, unknown> = {}) => effectiveSecurity(pod as never, c as never);
  const podRef = { name: 'web', namespace: 'default', uid: 'u-1' };
  function input(over: Partial<OciSpecInput> = {}): OciSpecInput {
    return {
      container: { name: 'app', image: 'registry.local/web:1', command: ['sleep', '1'] },
      rootfs: '/var/lib/flotilla/rootfs/abc',
      hostname: 'web-0',
      namespaces: { network: 'new', ipc: 'new', uts: 'new', pid: 'new' },
      cgroupsPath: '/flotilla/podu1/c1',
      accounts,
      ...over,
    };
  }

  it('a user name, name:group and uid:group are resolved from the image files', () => {
    expect(buildOciSpec(input({ image: { User: 'nobody' } })).process.user).toEqual({ uid: 65534, gid: 65534 });
    expect(buildOciSpec(input({ image: { User: 'nobody:nogroup' } })).process.user).toEqual({ uid: 65534, gid: 65534 });
    expect(buildOciSpec(input({ image: { User: '1000:staff' } })).process.user).toEqual({ uid: 1000, gid: 50, additionalGids: [50, 44] });
    expect(buildOciSpec(input({ image: { User: 'www-data' } })).process.user).toEqual({ uid: 33, gid: 33, additionalGids: [50] });
  });

  it("the user's image groups come before supplementalGroups and fsGroup, also for runAsUser", () => {
    const spec = buildOciSpec(input({ security: sec({ runAsUser: 1000, supplementalGroups: [4000, 44], fsGroup: 2000 }), image: { User: 'nobody' } }));
    expect(spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [50, 44, 4000, 2000] });
    // runAsUser of a uid the image does not list: gid 0, only the pod's groups
    expect(buildOciSpec(input({ security: sec({ runAsUser: 4242, supplementalGroups: [4000] }) })).process.user).toEqual({ uid: 4242, gid: 0, additionalGids: [4000] });
    // runAsGroup replaces the primary group, the image groups stay
    expect(buildOciSpec(input({ security: sec({ runAsGroup: 3000 }), image: { User: 'app' } })).process.user).toEqual({ uid: 1000, gid: 3000, additionalGids: [50, 44] });
  });

  it('a name the image does not define fails creation (CreateContainerError) naming the user and the image', () => {
    const err = (() => {
      try {
        buildOciSpec(input({ image: { User: 'ghost' } }));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidContainerConfigError);
    expect((err as InvalidContainerConfigError).reason).toBe('CreateContainerError');
    expect((err as Error).message).toBe('failed to generate container "app" spec: unable to find user ghost: no matching entries in /etc/passwd of image "registry.local/web:1"');
    expect(() => buildOciSpec(input({ image: { User: 'app:wheel' } }))).toThrow('unable to find group wheel: no matching entries in /etc/group of image "registry.local/web:1"');
    expect(() => buildOciSpec(input({ image: { User: 'nobody' }, accounts: {} }))).toThrow('unable to find user nobody: image "registry.local/web:1" has no /etc/passwd');
  });

  it('runAsNonRoot refuses a named image user before looking it up, even one that resolves to a non-root uid', () => {
    for (const user of ['nobody', 'root', 'nobody:nogroup', 'ghost']) {
      let err: unknown;
      try {
        buildOciSpec(input({ security: sec({ runAsNonRoot: true }), podRef, image: { User: user } }));
      } catch (e) {
        err = e;
      }
      expect((err as InvalidContainerConfigError).reason).toBe('CreateContainerConfigError');
      expect((err as Error).message).toBe(
        `container has runAsNonRoot and image has non-numeric user (${user.split(':')[0]}), cannot verify user is non-root (pod: "web_default(u-1)", container: app)`,
      );
    }
    // a numeric uid with a group name is verifiable: 1000 runs, 0 is refused after resolution
    expect(buildOciSpec(input({ security: sec({ runAsNonRoot: true }), image: { User: '1000:staff' } })).process.user.uid).toBe(1000);
    expect(() => buildOciSpec(input({ security: sec({ runAsNonRoot: true }), podRef, image: { User: '0:staff' } }))).toThrow(/image will run as root/);
  });
});

describe('[node runtime] setHostnameAsFQDN', () => {
  const pod = (spec: Partial<Pod['spec']>, name = 'web-0', namespace = 'shop'): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: 'u-1' },
    spec: { containers: [{ name: 'c', image: 'x' }], ...spec },
  });

  it.each([
    ['unset: the short hostname', pod({ hostname: 'db-0', subdomain: 'db' }), 'db-0'],
    ['true without a subdomain: the short hostname', pod({ hostname: 'db-0', setHostnameAsFQDN: true }), 'db-0'],
    ['true with a subdomain: the FQDN', pod({ hostname: 'db-0', subdomain: 'db', setHostnameAsFQDN: true }), 'db-0.db.shop.svc.cluster.local'],
    ['the pod name when spec.hostname is unset', pod({ subdomain: 'db', setHostnameAsFQDN: true }), 'web-0.db.shop.svc.cluster.local'],
  ])('%s', (_, p, want) => {
    expect(podKernelHostname(p)).toBe(want);
  });

  it('an FQDN of 64 characters is fine, 65 fails in the kubelet words', () => {
    // '.db.shop.svc.cluster.local' is 26 characters: a 38-character hostname makes 64
    expect(podKernelHostname(pod({ hostname: 'h'.repeat(38), subdomain: 'db', setHostnameAsFQDN: true }))).toHaveLength(64);
    const long = pod({ hostname: 'h'.repeat(39), subdomain: 'db', setHostnameAsFQDN: true });
    expect(() => podKernelHostname(long)).toThrow(
      `failed to construct FQDN from pod hostname and cluster domain, FQDN ${'h'.repeat(39)}.db.shop.svc.cluster.local is too long (64 characters is the max, 65 characters requested)`,
    );
    expect(podKernelHostname(long, 'c.io')).toBe(`${'h'.repeat(39)}.db.shop.svc.c.io`);
  });
});
