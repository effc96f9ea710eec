// Pod start on the node runtime: sandbox (pinned netns + lo, pod cgroup, pause)
// plus one container from a cached image, until it runs — beside raw
// `crun run -d` of that same container's config.json, interleaved in one run.
// Also the RSS of the process holding 30 running pods, and the teardown time.
//
// Usage: npm run bench -- pod-start         (as root; BENCH_POD_N=30 sets the pod count)
//        node hack/bench/pod-start.mjs      (prints the rows as JSON)
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

// Pods (each with one container) started one after another.
const N = Number(process.env.BENCH_POD_N ?? 30);
// Targets from issue [6/8]: bound → Running p50 < 250 ms, p99 < 600 ms; agent RSS with 30 pods < 80 MB.
const MAX_P50_MS = 250;
const MAX_P99_MS = 600;
const MAX_RSS_MB = 80;

export const meta = { title: 'Pod start: sandbox + container on the node runtime vs raw crun run -d', issue: '[6/8]' };

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

/** The node runtime as plain JS, compiled (without type-checking) from the current sources. */
async function loadRuntime(root) {
  const out = join(root, 'node_modules', '.cache', 'flotilla-bench-pod-start');
  execFileSync(join(root, 'node_modules/.bin/tsc'), [
    '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
    '--rootDir', root, '--outDir', out, join(root, 'node-agent/node-runtime.ts'),
  ], { cwd: root });
  const nr = await import(pathToFileURL(join(out, 'node-agent/node-runtime.js')).href);
  const log = await import(pathToFileURL(join(out, 'api/log.js')).href);
  const rt = await import(pathToFileURL(join(out, 'node-agent/runtime/index.js')).href);
  return { NodeRuntime: nr.NodeRuntime, silentLogger: log.silentLogger, CgroupManager: rt.CgroupManager };
}

/** A full GC without --expose-gc on the command line (the harness imports this module). */
function collectGarbage() {
  v8.setFlagsFromString('--expose-gc');
  vm.runInNewContext('gc')();
}

function mountsUnder(dir) {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

export async function run({ root }) {
  if (process.getuid?.() !== 0) throw new Error('pod-start needs root (crun, cgroups, network namespaces)');
  const { NodeRuntime, silentLogger, CgroupManager } = await loadRuntime(root);
  const prefix = `fb${randomBytes(3).toString('hex')}`;
  const tmp = mkdtempSync(join(tmpdir(), `flotilla-bench-${prefix}-`));
  const cgroupParent = `/flotilla-bench-${prefix}`;
  const rawRoot = join(tmp, 'raw-crun');
  const imageRef = 'localhost/flotilla/busybox:bench';
  execFileSync(process.execPath, [join(root, 'hack', 'test-image.mjs'), join(tmp, 'image'), '--name', imageRef, '--tar', join(tmp, 'image.tar')], { stdio: 'ignore' });

  const runtime = await NodeRuntime.create({ stateDir: join(tmp, 'state'), runDir: join(tmp, 'run'), cgroupParent, log: silentLogger() });
  await runtime.images.importImage(join(tmp, 'image.tar'));
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  const pods = [];
  const ours = [];
  const raw = [];
  const rawIds = [];
  let rssMb = 0;
  let heapMb = 0;
  let teardownMs = 0;
  // What the process holds before any pod (node, the runtime's modules, the imported image): the RSS baseline.
  collectGarbage();
  const rssBeforeMb = process.memoryUsage().rss / 1024 / 1024;
  const heapBeforeMb = process.memoryUsage().heapUsed / 1024 / 1024;
  try {
    for (let i = 0; i < N + 2; i++) {
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `bench-${i}`, namespace: 'default', uid: randomUUID() },
        spec: {
          containers: [{ name: 'c', image: imageRef, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'], resources: { limits: { cpu: '100m', memory: '32Mi' } } }],
        },
      };
      let t = now();
      const sandbox = await runtime.createSandbox(pod);
      await runtime.startContainer(pod, sandbox, pod.spec.containers[0], 0);
      const a = now() - t;
      pods.push(pod);
      // raw: the same container's config.json (same rootfs, joining the same pod), `crun run -d`
      const st = await runtime.podStatus(pod);
      const spec = JSON.parse(readFileSync(join(runtime.containerRuntime.containers.bundleDir(st.containers[0].id), 'config.json'), 'utf8'));
      const rid = randomBytes(16).toString('hex');
      spec.linux.cgroupsPath = `${cgroupParent}/raw/${rid}`;
      const bundle = join(tmp, 'raw', rid);
      mkdirSync(bundle, { recursive: true });
      t = now();
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
      execFileSync('/usr/bin/crun', [`--root=${rawRoot}`, 'run', '-d', '--bundle', bundle, rid], { stdio: 'ignore' });
      const b = now() - t;
      rawIds.push(rid);
      if (i >= 2) {
        ours.push(a);
        raw.push(b);
      }
    }
    for (const rid of rawIds.splice(0)) execFileSync('/usr/bin/crun', [`--root=${rawRoot}`, 'delete', '--force', rid], { stdio: 'ignore' });
    // Collect garbage first: what is measured is what the pods hold, not what the starts left for the collector.
    collectGarbage();
    rssMb = process.memoryUsage().rss / 1024 / 1024;
    heapMb = process.memoryUsage().heapUsed / 1024 / 1024;
    const t = now();
    // As for a deleted pod: everything goes (a pod object without deletionTimestamp would keep its records).
    for (const pod of pods.splice(0)) await runtime.killPod({ metadata: { uid: pod.metadata.uid } }, 0);
    teardownMs = (now() - t) / (N + 2);
  } finally {
    for (const rid of rawIds) {
      try {
        execFileSync('/usr/bin/crun', [`--root=${rawRoot}`, 'delete', '--force', rid], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    for (const pod of pods) await runtime.killPod({ metadata: { uid: pod.metadata.uid } }, 0).catch(() => undefined);
    for (const m of mountsUnder(tmp)) {
      try {
        execFileSync('umount', ['-l', m], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    await new CgroupManager({ parent: cgroupParent }).remove(cgroupParent).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }

  const o50 = pct(ours, 50);
  const o99 = pct(ours, 99);
  const r50 = pct(raw, 50);
  const r99 = pct(raw, 99);
  return {
    command: 'npm run bench -- pod-start',
    rows: [
      { metric: 'pod start p50', value: o50, baseline: r50, baselineLabel: 'crun run -d', unit: 'ms', ratio: o50 / r50, target: `< ${MAX_P50_MS} ms`, pass: o50 < MAX_P50_MS },
      { metric: 'pod start p99', value: o99, baseline: r99, baselineLabel: 'crun run -d', unit: 'ms', ratio: o99 / r99, target: `< ${MAX_P99_MS} ms`, pass: o99 < MAX_P99_MS },
      { metric: `RSS with ${N + 2} pods`, value: rssMb, baseline: rssBeforeMb, baselineLabel: 'same process, no pod', unit: 'MB', ratio: rssMb / rssBeforeMb, target: `< ${MAX_RSS_MB} MB`, pass: rssMb < MAX_RSS_MB },
      { metric: `JS heap used with ${N + 2} pods`, value: heapMb, baseline: heapBeforeMb, baselineLabel: 'same process, no pod', unit: 'MB', ratio: heapMb / heapBeforeMb },
      { metric: 'pod teardown (killPod) mean', value: teardownMs, unit: 'ms' },
    ],
    notes:
      `${N} pods (after 2 warm-up) started one after another, each a sandbox (pinned netns with lo up, pod cgroup, /etc files, ` +
      'pause as an OCI container) and one busybox `sleep` container from a cached image (overlay rootfs prepared per container), ' +
      'with cpu and memory limits; measured from createSandbox to startContainer returning (running). Loopback only: the pod network ' +
      'add is not included. Baseline = `crun run -d` of the same container\'s config.json (same rootfs, joining the same pod), which has ' +
      'no sandbox, no monitor and no log. RSS and heap are of the bench process (node + the runtime, no gRPC client) after a full GC, before the first pod and while all pods run: ' +
      'the pods themselves hold little JS heap; most of the RSS is node, the loaded modules and heap pages V8 keeps after the starts.',
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  run({ root }).then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`));
}
