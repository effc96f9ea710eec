// Container create+start through Flotilla's driver and conmon monitor, against
// raw `crun run -d` of the same bundle, interleaved in one run.
//
// Usage: npm run bench -- runtime-start        (as root; BENCH_RUNTIME_N=30 sets the sample count)
//        node hack/bench/runtime-start.mjs     (prints the rows as JSON)
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Samples per method.
const N = Number(process.env.BENCH_RUNTIME_N ?? 30);
// Targets: the driver may cost at most this many times raw crun, and this much at p50.
// conmon alone costs ~15-20 ms over a bare `crun create` here (measured), hence a generous ratio.
const MAX_RATIO = Number(process.env.BENCH_RUNTIME_MAX_RATIO ?? 5);
const MAX_P50_MS = Number(process.env.BENCH_RUNTIME_MAX_P50_MS ?? 100);

export const meta = { title: 'Container create+start: driver + conmon vs raw crun run -d', issue: '[6/8]' };

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** Our runtime layer as plain JS, compiled (without type-checking) from the current sources. */
async function loadRuntime(root) {
  const out = join(root, 'node_modules', '.cache', 'flotilla-bench-runtime');
  execFileSync(join(root, 'node_modules/.bin/tsc'), [
    '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
    '--rootDir', root, '--outDir', out, join(root, 'node-agent/runtime/index.ts'),
  ], { cwd: root });
  const rt = await import(pathToFileURL(join(out, 'node-agent/runtime/index.js')).href);
  const log = await import(pathToFileURL(join(out, 'api/log.js')).href);
  return { rt, silentLogger: log.silentLogger };
}

function busyboxRootfs(dir) {
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin', 'busybox'));
  for (const a of ['sh', 'sleep']) symlinkSync('busybox', join(dir, 'bin', a));
  return dir;
}

export async function run({ root }) {
  if (process.getuid?.() !== 0) throw new Error('runtime-start needs root (crun, cgroups, network namespaces)');
  const { rt, silentLogger } = await loadRuntime(root);
  const prefix = `fb${randomBytes(3).toString('hex')}`;
  const tmp = mkdtempSync(join(tmpdir(), `flotilla-bench-${prefix}-`));
  const netns = `${prefix}-pod`;
  const podUid = randomBytes(8).toString('hex');
  const cgroups = new rt.CgroupManager({ parent: `/flotilla-bench-${prefix}` });
  const runDir = join(tmp, 'run');
  const runtime = rt.createOciRuntime('crun', { root: join(runDir, 'crun') });
  const containers = new rt.ContainerManager({ runDir, runtime, cgroups, log: silentLogger() });
  const rawRoot = join(tmp, 'raw-crun');
  const rootfs = busyboxRootfs(join(tmp, 'rootfs'));
  execFileSync('ip', ['netns', 'add', netns]);

  const spec = (id) =>
    rt.buildOciSpec({
      container: { name: 'bench', command: ['sleep', '300'], resources: { limits: { cpu: '100m', memory: '32Mi' } } },
      rootfs,
      hostname: 'bench',
      namespaces: { network: { path: `/run/netns/${netns}` }, ipc: 'new', uts: 'new', pid: 'new' },
      cgroupsPath: cgroups.containerPath(podUid, id),
      maxOpenFiles: 1024,
    });

  const ours = [];
  const raw = [];
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  try {
    for (let i = 0; i < N + 2; i++) {
      // ours: bundle written, conmon runs `crun create`, then `crun start`
      const id = randomBytes(16).toString('hex');
      let t = now();
      await containers.run({ id, spec: spec(id), logPath: join(tmp, 'logs', `${id}.log`) });
      const a = now() - t;
      // raw: the same config.json, `crun run -d`
      const rid = randomBytes(16).toString('hex');
      const bundle = join(tmp, 'raw', rid);
      mkdirSync(bundle, { recursive: true });
      t = now();
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec(rid)));
      execFileSync('/usr/bin/crun', [`--root=${rawRoot}`, 'run', '-d', '--bundle', bundle, rid], { stdio: 'ignore' });
      const b = now() - t;
      if (i >= 2) {
        // the first two are warm-up
        ours.push(a);
        raw.push(b);
      }
      await containers.remove(id);
      execFileSync('/usr/bin/crun', [`--root=${rawRoot}`, 'delete', '--force', rid], { stdio: 'ignore' });
      await cgroups.remove(cgroups.containerPath(podUid, rid));
    }
  } finally {
    for (const id of containers.ids()) await containers.remove(id).catch(() => undefined);
    await cgroups.remove(cgroups.parent).catch(() => undefined);
    try {
      execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
    rmSync(tmp, { recursive: true, force: true });
  }

  const o50 = pct(ours, 50);
  const o99 = pct(ours, 99);
  const r50 = pct(raw, 50);
  const r99 = pct(raw, 99);
  return {
    command: 'npm run bench -- runtime-start',
    rows: [
      { metric: 'create+start p50', value: o50, baseline: r50, baselineLabel: 'crun run -d', unit: 'ms', ratio: o50 / r50, target: `< ${MAX_P50_MS} ms, ratio ≤ ${MAX_RATIO}`, pass: o50 < MAX_P50_MS && o50 / r50 <= MAX_RATIO },
      { metric: 'create+start p99', value: o99, baseline: r99, baselineLabel: 'crun run -d', unit: 'ms', ratio: o99 / r99 },
    ],
    notes:
      `${N} containers each way (busybox \`sleep 300\` in a fresh network namespace, cpu and memory limits), interleaved; ` +
      'ours = bundle + conmon (`crun create` under the monitor, sync pipe) + `crun start`; ' +
      'baseline = `crun run -d` of the same config.json, which has no monitor, no log file and no exit-code record.',
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  run({ root }).then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`));
}
