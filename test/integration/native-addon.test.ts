// The addon as its users see it: namespaces created, pinned, entered from a
// dedicated thread and deleted; overlay mounts with whiteouts; typed errors for
// bad input, never a crash.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as native from '../../native/index.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const SUITE = 'native addon tests';
let dir = '';
const tag = randomBytes(3).toString('hex');
const pins: string[] = [];
const mounts: string[] = [];

beforeAll(() => {
  requireRoot(SUITE);
  requireBinaries(SUITE, 'nsenter', 'ss', 'ip');
  dir = mkdtempSync(`/tmp/flt-native-${tag}-`);
  mkdirSync(`${dir}/ns`);
});

afterAll(() => {
  for (const m of mounts.reverse()) {
    try {
      native.umount(m, native.MNT_DETACH);
    } catch {
      /* gone */
    }
  }
  for (const p of pins) {
    try {
      native.netnsDelete(p);
    } catch {
      /* gone */
    }
  }
  try {
    native.umount(`${dir}/ns`, native.MNT_DETACH);
  } catch {
    /* not a mount */
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function readFd(fd: number): string {
  const buf = Buffer.alloc(65536);
  const n = readSync(fd, buf, 0, buf.length, null);
  return buf.toString('utf8', 0, n);
}

describe('[native] network namespaces', () => {
  it('[native] netnsCreate pins a fresh namespace that ip sees and netnsDelete removes it', () => {
    const pin = `${dir}/ns/a`;
    pins.push(pin);
    native.netnsCreate(pin);
    expect(native.netnsIsPin(pin)).toBe(true);
    const links = JSON.parse(execFileSync('nsenter', [`--net=${pin}`, 'ip', '-json', 'link', 'show'], { encoding: 'utf8' }));
    expect(links.map((l: { ifname: string }) => l.ifname)).toEqual(['lo']);
    // the parent directory became a shared mount point, as ip netns makes /run/netns
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    const line = mountinfo.split('\n').find((l) => l.split(' ')[4] === `${dir}/ns`);
    expect(line).toMatch(/shared:/);

    native.netnsDelete(pin);
    expect(existsSync(pin)).toBe(false);
    expect(native.netnsIsPin(pin)).toBe(false);
  });

  it('[native] the caller keeps its own namespace: work inside runs on a dedicated thread', () => {
    const pin = `${dir}/ns/b`;
    pins.push(pin);
    const nsBefore = readlinkSync('/proc/thread-self/ns/net');
    native.netnsCreate(pin);
    const before = readFileSync('/proc/thread-self/net/dev', 'utf8');
    // /proc/thread-self is the opening thread: inside the namespace it lists only lo
    const fd = native.openInNetns(pin, '/proc/thread-self/net/dev', fsc.O_RDONLY);
    const inside = readFd(fd);
    closeSync(fd);
    expect(inside.split('\n').filter((l) => l.includes(':')).map((l) => l.split(':')[0]!.trim())).toEqual(['lo']);
    expect(readFileSync('/proc/thread-self/net/dev', 'utf8')).toBe(before);
    expect(readlinkSync('/proc/thread-self/ns/net')).toBe(nsBefore);
    expect(readlinkSync('/proc/self/ns/net')).toBe(nsBefore);
  });

  it('[native] a socket opened inside a namespace listens there and not in the caller namespace', async () => {
    const pin = `${dir}/ns/b`;
    const fd = native.socketInNetns(pin, 2 /* AF_INET */, 1 /* SOCK_STREAM */, 0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => resolve());
    });
    try {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      expect(port).toBeGreaterThan(0);
      const inside = execFileSync('nsenter', [`--net=${pin}`, 'ss', '-Hltn'], { encoding: 'utf8' });
      expect(inside).toContain(`:${port}`);
      const outside = execFileSync('ss', ['-Hltn'], { encoding: 'utf8' });
      expect(outside.split('\n').some((l) => l.includes(`*:${port} `) || l.includes(`0.0.0.0:${port} `))).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('[native] bad namespace input comes back as typed errors with the path and the kernel message', () => {
    const missing = catchErr(() => native.netnsDelete(`${dir}/ns/missing`));
    expect(missing).toBeInstanceOf(native.NativeError);
    expect(missing.code).toBe('NotFound');
    expect(missing.errnoCode).toBe('ENOENT');
    expect(missing.message).toBe(`netnsDelete: statfs ${dir}/ns/missing: No such file or directory (ENOENT)`);

    const plain = `${dir}/plain`;
    writeFileSync(plain, 'x');
    const notNs = catchErr(() => native.netnsDelete(plain));
    expect(notNs.code).toBe('Invalid');
    expect(existsSync(plain)).toBe(true);
    expect(catchErr(() => native.socketInNetns(plain, 2, 2, 0)).code).toBe('Invalid');
    expect(catchErr(() => native.openInNetns(`${dir}/nope`, '/proc/sys/net/ipv4/ip_forward', 0)).code).toBe('NotFound');

    const dup = catchErr(() => native.netnsCreate(`${dir}/ns/b`));
    expect(dup.code).toBe('AlreadyExists');
    expect(native.netnsIsPin(`${dir}/ns/b`)).toBe(true);
    expect(catchErr(() => native.netnsCreate(`${dir}/no/such/dir/x`)).code).toBe('NotFound');

    // wrong types never reach a syscall
    const bad = catchErr(() => native.netnsCreate(42 as unknown as string));
    expect(bad).toBeInstanceOf(native.NativeError);
    expect(bad.code).toBe('Invalid');
    expect(bad.message).toMatch(/pinPath must be a string/);
    expect(catchErr(() => native.openInNetns(null, 7 as unknown as string, 0)).code).toBe('Invalid');
    expect(catchErr(() => native.mknod(`${dir}/x`, 'a' as unknown as number, 0, 0)).code).toBe('Invalid');
  });

  it('[native] a netlink socket opened in a namespace reports its kernel port id and closes cleanly', () => {
    const s = native.NetlinkSocket.open(native.NETLINK_ROUTE, { netns: `${dir}/ns/b` });
    expect(s.portId).toBeGreaterThan(0);
    expect(s.recv()).toBeNull();
    s.close();
    s.close();
    expect(s.isClosed).toBe(true);
    // A send on the closed socket is refused with a typed error naming the syscall, not a crash.
    const afterClose = catchErr(() => s.send(Buffer.alloc(16)));
    expect(afterClose).toBeInstanceOf(native.NativeError);
    expect(afterClose).toMatchObject({ errnoCode: 'EBADF', syscall: 'sendto' });
    expect(afterClose.message).toBe('netlink: sendto: Bad file descriptor (EBADF)');
  });
});

describe('[native] mounts and whiteouts', () => {
  it('[native] the flag constants match the system headers the addon was built with', () => {
    const c = native.nativeConstants();
    for (const name of Object.keys(c)) {
      expect((native as unknown as Record<string, number>)[name], name).toBe(c[name]);
    }
  });

  it('[native] an overlay mount hides whiteout files (char 0/0) and the contents of opaque directories', () => {
    const base = `${dir}/ovl`;
    for (const d of ['lower/keep', 'lower/gone', 'lower/opaque', 'upper/opaque', 'work', 'merged']) mkdirSync(`${base}/${d}`, { recursive: true });
    writeFileSync(`${base}/lower/keep/a`, 'a');
    writeFileSync(`${base}/lower/gone/b`, 'b');
    writeFileSync(`${base}/lower/opaque/old`, 'old');
    writeFileSync(`${base}/upper/opaque/new`, 'new');
    native.mknod(`${base}/upper/gone`, fsc.S_IFCHR | 0o000, 0, 0);
    native.lsetxattr(`${base}/upper/opaque`, 'trusted.overlay.opaque', Buffer.from('y'));
    expect(native.lgetxattr(`${base}/upper/opaque`, 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(native.lgetxattr(`${base}/upper/opaque`, 'trusted.overlay.nothing')).toBeNull();
    const st = lstatSync(`${base}/upper/gone`);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);

    native.mount('overlay', `${base}/merged`, 'overlay', native.MS_NODEV, `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`);
    mounts.push(`${base}/merged`);
    expect(readdirSync(`${base}/merged`).sort()).toEqual(['keep', 'opaque']);
    expect(readdirSync(`${base}/merged/opaque`)).toEqual(['new']);
    expect(readFileSync(`${base}/merged/keep/a`, 'utf8')).toBe('a');
    native.umount(`${base}/merged`);
    mounts.pop();
    expect(readdirSync(`${base}/merged`)).toEqual([]);
  });

  it('[native] a tmpfs mount with data options, then umount with MNT_DETACH', () => {
    const t = `${dir}/tmpfs`;
    mkdirSync(t);
    native.mount('tmpfs', t, 'tmpfs', native.MS_NOSUID | native.MS_NODEV, 'size=1m,mode=0700');
    mounts.push(t);
    const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === t);
    expect(line).toMatch(/nosuid,nodev/);
    expect(line).toMatch(/size=1024k/);
    native.umount(t, native.MNT_DETACH);
    mounts.pop();
  });

  it('[native] mount, umount, mknod and xattr failures are typed with errno, syscall and path', () => {
    const noTarget = catchErr(() => native.mount('tmpfs', `${dir}/absent`, 'tmpfs', 0));
    expect(noTarget).toBeInstanceOf(native.NativeError);
    expect(noTarget.code).toBe('NotFound');
    expect(noTarget.syscall).toBe('mount');
    expect(noTarget.path).toBe(`${dir}/absent`);
    expect(noTarget.message).toBe(`mount ${dir}/absent: No such file or directory (ENOENT)`);

    const notMounted = catchErr(() => native.umount(dir));
    expect(notMounted.code).toBe('Invalid');
    expect(notMounted.errnoCode).toBe('EINVAL');

    writeFileSync(`${dir}/exists`, '');
    const exists = catchErr(() => native.mknod(`${dir}/exists`, fsc.S_IFCHR, 0, 0));
    expect(exists.code).toBe('AlreadyExists');
    expect(exists.kernelMessage).toBe('File exists');

    expect(catchErr(() => native.lsetxattr(`${dir}/absent`, 'trusted.x', Buffer.from('y'))).code).toBe('NotFound');
    expect(catchErr(() => native.mount('x', dir, 'nosuchfs', 0)).code).toBe('NotFound');
  });
});

describe('[native] pause binary', () => {
  it('[native] pausePath is the absolute path of an executable', () => {
    const p = native.pausePath();
    expect(p.startsWith('/')).toBe(true);
    expect(execFileSync(p, ['-v'], { encoding: 'utf8' })).toMatch(/flotilla-pause/);
  });
});

function catchErr(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}
