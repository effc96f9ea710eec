// The files of configMap and secret volumes, written the way the kubelet's
// AtomicWriter writes them, so a reader in the container sees the old set of
// files or the new one, never a mix and never a half-written file:
//
//   <dir>/..2026_01_02_03_04_05.123456789/   the files of one version (with their modes)
//   <dir>/..data -> ..2026_01_02_03_04_05.123456789
//   <dir>/<key> -> ..data/<key>              one link per top-level name
//
// An update writes a new timestamped directory, points a new `..data_tmp` link
// at it and renames that over `..data` (one atomic rename swaps every file at
// once), adds links for new names, removes links of names no longer there and
// then the old directory. Unchanged contents write nothing.
//
// Decide, then act: planAtomicWrite is pure (the state read from disk and the
// payload in, the steps out) and table-tested; applySteps carries them out.
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';

/** One file of a volume: its bytes and its permission bits. */
export interface VolumeFile {
  data: Buffer;
  mode: number;
}

/** A volume's files by path relative to the volume (`key`, or an item's `path` such as `conf/app.yaml`). */
export type VolumeFiles = ReadonlyMap<string, VolumeFile>;

export const DATA_DIR_NAME = '..data';
const DATA_DIR_TMP_NAME = '..data_tmp';
/** Timestamped directories: `..2006_01_02_15_04_05.<digits>`, as the kubelet names them. */
const TS_DIR = /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/;

/** What a volume directory holds now, as read by readVolumeState. */
export interface VolumeState {
  /** Where `..data` points (a timestamped directory name), if anywhere. */
  dataTarget?: string;
  /** The files of the current version. */
  files: Map<string, VolumeFile>;
  /** The user-visible names and their link target (null: not a symlink). */
  visible: Map<string, string | null>;
  /** Timestamped directories other than the current one (left by an interrupted write). */
  stale: string[];
}

export type AtomicWriteStep =
  | { op: 'mkdir'; path: string }
  | { op: 'write'; path: string; data: Buffer; mode: number }
  | { op: 'symlink'; path: string; target: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'remove'; path: string };

/** The kubelet's timestamped directory name for a write at NOW (with a random suffix, as os.MkdirTemp adds). */
export function timestampDirName(now: number, suffix = randomInt(0, 1e9)): string {
  const d = new Date(now);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `..${d.getUTCFullYear()}_${p(d.getUTCMonth() + 1)}_${p(d.getUTCDate())}_${p(d.getUTCHours())}_${p(d.getUTCMinutes())}_${p(d.getUTCSeconds())}.${p(suffix, 9)}`;
}

/** Why a payload path may not be written (absolute, `..`, a leading `..` name), or undefined. */
export function payloadPathError(path: string): string | undefined {
  if (path === '') return 'must not be empty';
  if (path.startsWith('/')) return 'must be a relative path';
  const parts = path.split('/');
  if (parts.includes('..')) return "must not contain '..'";
  if (parts[0]!.startsWith('..')) return "must not start with '..'";
  if (parts.some((p) => p === '' || p === '.')) return 'must be a clean path';
  return undefined;
}

function sameFiles(a: ReadonlyMap<string, VolumeFile>, b: VolumeFiles): boolean {
  if (a.size !== b.size) return false;
  for (const [p, f] of b) {
    const o = a.get(p);
    if (!o || o.mode !== f.mode || !o.data.equals(f.data)) return false;
  }
  return true;
}

const topName = (p: string) => p.split('/')[0]!;

/**
 * The steps that bring the volume from CURRENT to PAYLOAD, with NEWDIR as the
 * name of the new timestamped directory; [] when it already holds exactly that.
 * Throws on a payload path that would escape the volume or shadow `..data`.
 */
export function planAtomicWrite(current: VolumeState, payload: VolumeFiles, newDir: string): AtomicWriteStep[] {
  for (const p of payload.keys()) {
    const why = payloadPathError(p);
    if (why) throw new Error(`volume file path "${p}" ${why}`);
  }
  const names = new Set([...payload.keys()].map(topName));
  const linksOk = [...names].every((n) => current.visible.get(n) === `${DATA_DIR_NAME}/${n}`);
  const extra = [...current.visible.keys()].filter((n) => !names.has(n));
  if (current.dataTarget !== undefined && sameFiles(current.files, payload) && linksOk && extra.length === 0 && current.stale.length === 0) return [];

  const steps: AtomicWriteStep[] = [];
  if (current.dataTarget === undefined || !sameFiles(current.files, payload)) {
    // 1. The new version, complete, where no reader looks yet.
    steps.push({ op: 'mkdir', path: newDir });
    const dirs = new Set<string>();
    for (const p of [...payload.keys()].sort()) {
      const parts = p.split('/');
      for (let i = 1; i < parts.length; i++) {
        const d = parts.slice(0, i).join('/');
        if (!dirs.has(d)) {
          dirs.add(d);
          steps.push({ op: 'mkdir', path: `${newDir}/${d}` });
        }
      }
      const f = payload.get(p)!;
      steps.push({ op: 'write', path: `${newDir}/${p}`, data: f.data, mode: f.mode });
    }
    // 2. The swap: one rename replaces ..data, so every file changes at once.
    steps.push({ op: 'remove', path: DATA_DIR_TMP_NAME });
    steps.push({ op: 'symlink', path: DATA_DIR_TMP_NAME, target: newDir });
    steps.push({ op: 'rename', from: DATA_DIR_TMP_NAME, to: DATA_DIR_NAME });
  }
  // 3. The user-visible names: a link into ..data for each, none for names gone.
  for (const n of [...names].sort()) {
    const want = `${DATA_DIR_NAME}/${n}`;
    const have = current.visible.get(n);
    if (have === want) continue;
    if (have !== undefined) steps.push({ op: 'remove', path: n });
    steps.push({ op: 'symlink', path: n, target: want });
  }
  for (const n of extra.sort()) steps.push({ op: 'remove', path: n });
  // 4. The old version (and leftovers of an interrupted write), now unreachable.
  const replaced = steps.some((s) => s.op === 'rename');
  if (replaced && current.dataTarget !== undefined && current.dataTarget !== newDir) steps.push({ op: 'remove', path: current.dataTarget });
  for (const d of current.stale) if (d !== newDir) steps.push({ op: 'remove', path: d });
  return steps;
}

function readFilesUnder(root: string, rel: string, out: Map<string, VolumeFile>): void {
  for (const ent of fs.readdirSync(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) readFilesUnder(root, p, out);
    else if (ent.isFile()) out.set(p, { data: fs.readFileSync(join(root, p)), mode: fs.statSync(join(root, p)).mode & 0o7777 });
  }
}

/** Reads what DIR holds now (an absent or empty dir: nothing). */
export function readVolumeState(dir: string): VolumeState {
  const state: VolumeState = { files: new Map(), visible: new Map(), stale: [] };
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return state;
    throw e;
  }
  let target: string | undefined;
  try {
    target = fs.readlinkSync(join(dir, DATA_DIR_NAME));
  } catch {
    target = undefined;
  }
  if (target !== undefined && TS_DIR.test(target) && fs.existsSync(join(dir, target))) {
    state.dataTarget = target;
    readFilesUnder(join(dir, target), '', state.files);
  }
  for (const ent of entries) {
    if (ent.name.startsWith('..')) {
      if (ent.isDirectory() && TS_DIR.test(ent.name) && ent.name !== state.dataTarget) state.stale.push(ent.name);
      continue;
    }
    state.visible.set(ent.name, ent.isSymbolicLink() ? fs.readlinkSync(join(dir, ent.name)) : null);
  }
  state.stale.sort();
  return state;
}

/** Carries the steps out under DIR, in order. */
export function applySteps(dir: string, steps: readonly AtomicWriteStep[]): void {
  for (const s of steps) {
    switch (s.op) {
      case 'mkdir':
        fs.mkdirSync(join(dir, s.path), { mode: 0o755 });
        // 0755 whatever the umask: every user of the container must reach the files.
        fs.chmodSync(join(dir, s.path), 0o755);
        break;
      case 'write': {
        const p = join(dir, s.path);
        fs.mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
        fs.writeFileSync(p, s.data, { mode: s.mode });
        fs.chmodSync(p, s.mode);
        break;
      }
      case 'symlink':
        fs.symlinkSync(s.target, join(dir, s.path));
        break;
      case 'rename':
        fs.renameSync(join(dir, s.from), join(dir, s.to));
        break;
      case 'remove':
        fs.rmSync(join(dir, s.path), { recursive: true, force: true });
        break;
    }
  }
}

/** Brings DIR to PAYLOAD atomically; returns whether anything was written. */
export function writeVolumeAtomically(dir: string, payload: VolumeFiles, now: number): boolean {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const steps = planAtomicWrite(readVolumeState(dir), payload, timestampDirName(now));
  applySteps(dir, steps);
  return steps.length > 0;
}
