// The users and groups of a container image: its /etc/passwd and /etc/group,
// read from the container's rootfs, and the resolution of a `user[:group]`
// string against them, as containerd does it for a Kubernetes container
// (names looked up, numbers taken as they are, and the groups that list the
// user as a member added as supplementary groups). Reading is the one side
// effect (readRootfsAccounts); resolving is pure and table-tested.
import * as fs from 'node:fs';
import { join } from 'node:path';

/** The text of the image's /etc/passwd and /etc/group; undefined: the image has no such file. */
export interface RootfsAccounts {
  passwd?: string;
  group?: string;
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Where the account files sit in an image. */
export const PASSWD_FILE = '/etc/passwd';
export const GROUP_FILE = '/etc/group';
/** Account files larger than this are not read (a hostile image must not make the agent load gigabytes). */
const MAX_ACCOUNT_FILE_BYTES = 4 << 20;
/** Symlinks followed while resolving one path, as the kernel's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;

const isId = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s);

/** The entries of a passwd file (`name:x:uid:gid:…`); malformed lines and comments are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name, , uid, gid] = line.split(':');
    if (!name || !isId(uid) || !isId(gid)) continue;
    out.push({ name, uid: Number(uid), gid: Number(gid) });
  }
  return out;
}

/** The entries of a group file (`name:x:gid:member,member`); malformed lines and comments are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name, , gid, members] = line.split(':');
    if (!name || !isId(gid)) continue;
    out.push({ name, gid: Number(gid), members: (members ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/**
 * PATH as the container would open it inside ROOT: every symlink followed,
 * an absolute target starting again at ROOT and `..` stopping there, so an
 * image whose /etc/passwd links to `/../../etc/shadow` reads its own files,
 * never the host's.
 */
export function resolveInRoot(root: string, path: string): string {
  const todo = path.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = join(root, ...done, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(here);
    } catch {
      st = undefined;
    }
    if (!st?.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new Error(`${path}: too many levels of symbolic links`);
    const target = fs.readlinkSync(here);
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return join(root, ...done);
}

/** A regular file of the rootfs, or undefined when there is none (or it is too large to be an account file). */
function readRootfsFile(rootfs: string, path: string): string | undefined {
  let file: string;
  try {
    file = resolveInRoot(rootfs, path);
  } catch {
    return undefined;
  }
  try {
    const st = fs.statSync(file);
    if (!st.isFile() || st.size > MAX_ACCOUNT_FILE_BYTES) return undefined;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The image's /etc/passwd and /etc/group, from the container's (mounted) rootfs. */
export function readRootfsAccounts(rootfs: string): RootfsAccounts {
  const passwd = readRootfsFile(rootfs, PASSWD_FILE);
  const group = readRootfsFile(rootfs, GROUP_FILE);
  return { ...(passwd !== undefined ? { passwd } : {}), ...(group !== undefined ? { group } : {}) };
}

/** A user or group name the image does not define: the container cannot be created. */
export class UnknownAccountError extends Error {
  constructor(
    readonly kind: 'user' | 'group',
    readonly account: string,
    readonly fileMissing: boolean,
  ) {
    super(UnknownAccountError.describe(kind, account, fileMissing, 'the image'));
    this.name = 'UnknownAccountError';
  }

  /** The message naming IMAGE (`image "ref"`, or `the image`). */
  static describe(kind: 'user' | 'group', account: string, fileMissing: boolean, image: string): string {
    const file = kind === 'user' ? PASSWD_FILE : GROUP_FILE;
    return fileMissing ? `unable to find ${kind} ${account}: ${image} has no ${file}` : `unable to find ${kind} ${account}: no matching entries in ${file} of ${image}`;
  }
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Groups of the image's /etc/group that list the user as a member (containerd adds them to every container). */
  imageGroups: number[];
}

/**
 * Resolves USER (`uid`, `name`, `uid:gid`, `name:group`, any mix) against the
 * image's accounts, as containerd does:
 * - a number is taken as it is, a name must be in /etc/passwd (/etc/group for a group);
 * - without a group, the gid is the user's primary group in /etc/passwd; a
 *   uid the image does not list gets FALLBACKGID (the caller's default);
 * - the user's supplementary groups are the /etc/group entries naming it as a
 *   member (looked up by name, for a uid through its /etc/passwd entry).
 * An empty USER is root. Throws UnknownAccountError for a name not found.
 */
export function resolveUser(user: string, accounts: RootfsAccounts, fallbackGid: (uid: number) => number): ResolvedUser {
  const users = accounts.passwd !== undefined ? parsePasswd(accounts.passwd) : undefined;
  const groups = accounts.group !== undefined ? parseGroup(accounts.group) : undefined;
  const [u = '', g] = (user || '0').split(':', 2);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (isId(u)) {
    uid = Number(u);
    entry = users?.find((e) => e.uid === uid);
  } else {
    entry = users?.find((e) => e.name === u);
    if (!entry) throw new UnknownAccountError('user', u, users === undefined);
    uid = entry.uid;
  }
  let gid: number;
  if (g === undefined || g === '') {
    gid = entry ? entry.gid : fallbackGid(uid);
  } else if (isId(g)) {
    gid = Number(g);
  } else {
    const group = groups?.find((e) => e.name === g);
    if (!group) throw new UnknownAccountError('group', g, groups === undefined);
    gid = group.gid;
  }
  const name = entry?.name;
  const imageGroups = name === undefined ? [] : [...new Set((groups ?? []).filter((e) => e.members.includes(name)).map((e) => e.gid))];
  return { uid, gid, imageGroups };
}
