// Probes and lifecycle hooks, through the real daemons: the compiled controller
// (managed etcd) on a lab gateway, and the flotilla-agent binary in a lab
// host's network namespace with its pod network, running busybox pods with
// crun. The agent probes pod IPs over the node's bridge (as the kubelet does)
// and execs into containers through the runtime. What a user sees: the
// container `ready`/`started` flags, the pod's Ready condition, restart counts
// and the Unhealthy / Killing / FailedPostStartHook events.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Event, type Node, type Pod } from '../../api/index.js';
import * as native from '../../native/index.js';
import { CgroupManager, openLayout, pushImage, RegistryClient } from '../../node-agent/index.js';
import { NodeRuntime } from '../../node-agent/node-runtime.js';
import { mountsUnder } from '../../node-agent/sandbox/sandbox-manager.js';
import { CONTROLLER_MAIN, controllerApi, freeTcpPort, REPO_ROOT, startController, type StartedController } from '../helpers/controller.js';
import { eventually, flotctl, FLOTCTL } from '../helpers/flotctl.js';
import { Lab } from '../helpers/lab.js';
import { buildTestImage } from '../helpers/registry.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

const NS = 'probes';
const prefix = `flt${randomBytes(3).toString('hex')}`;
const cgroupParent = `/flotilla-test-${prefix}`;
let lab: Lab;
let ctl: StartedController;
let tmp: string;
let out: string;
let registry: ChildProcess | undefined;
let registryHost: string;
let image: string;
let nodeIP: string;

const api = <T = any>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl, path, init);

async function must<T = any>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const r = await api<T>(path, init);
  if (r.status >= 300) throw new Error(`${init.method ?? 'GET'} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

const getPod = (name: string) => must<Pod>(`/api/v1/namespaces/${NS}/pods/${name}`);
const eventsOf = async (pod: string): Promise<Event[]> => (await must<{ items: Event[] }>(`/api/v1/namespaces/${NS}/events`)).items.filter((e) => e.involvedObject?.name === pod);
const condition = (p: Pod, type: string) => p.status?.conditions?.find((c) => c.type === type)?.status;

function agentLog(): string {
  const f = `/run/flotilla-lab/${lab.prefix}/logs/h1-agent.log`;
  return existsSync(f) ? readFileSync(f, 'utf8').slice(-6000) : '(no agent log)';
}

async function createPod(name: string, spec: Partial<Pod['spec']>): Promise<void> {
  await must(`/api/v1/namespaces/${NS}/pods`, {
    method: 'POST',
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec: { nodeName: 'h1', terminationGracePeriodSeconds: 2, ...spec } },
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  return eventually(what, fn, ms, 200).catch((e: Error) => {
    throw new Error(`${e.message}\nagent log:\n${agentLog()}`);
  });
}

async function deletePod(name: string): Promise<number> {
  const t0 = Date.now();
  await api(`/api/v1/namespaces/${NS}/pods/${name}`, { method: 'DELETE' });
  await until(`pod ${name} gone`, async () => ((await api(`/api/v1/namespaces/${NS}/pods/${name}`)).status === 404 ? true : undefined));
  return Date.now() - t0;
}

const SLEEP = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];

beforeAll(async () => {
  requireRoot('the probes suite');
  requireBinaries('the probes suite', 'etcd', 'crun', 'conmon', 'docker-registry', 'ip', 'nsenter');
  if (!existsSync(CONTROLLER_MAIN) || !existsSync(FLOTCTL)) throw new Error(`the probes suite needs the compiled controller and flotctl: run npx tsc -p tsconfig.json`);
  tmp = mkdtempSync(join(tmpdir(), `flotilla-probes-${prefix}-`));
  // The agent as plain JS from the current sources (no type-check), under the repo so the addon and pause are found.
  out = join(REPO_ROOT, 'node_modules', '.cache', `flotilla-probes-${prefix}`);
  execFileSync(join(REPO_ROOT, 'node_modules/.bin/tsc'), [
    '--noCheck', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--resolveJsonModule',
    '--rootDir', REPO_ROOT, '--outDir', out, join(REPO_ROOT, 'node-agent/main.ts'),
  ], { cwd: REPO_ROOT });
  cpSync(join(REPO_ROOT, 'api', 'proto'), join(out, 'api', 'proto'), { recursive: true });

  lab = new Lab('prb');
  lab.up(1);
  nodeIP = lab.hostIp('h1');
  const port = await freeTcpPort(lab.gateway);
  registryHost = `${lab.gateway}:${port}`;
  mkdirSync(join(tmp, 'registry'));
  writeFileSync(
    join(tmp, 'registry', 'config.yml'),
    ['version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true', 'storage:', '  filesystem:', `    rootdirectory: ${join(tmp, 'registry', 'data')}`, 'http:', `  addr: ${registryHost}`, `  secret: ${randomBytes(8).toString('hex')}`, ''].join('\n'),
  );
  registry = spawn('/usr/bin/docker-registry', ['serve', join(tmp, 'registry', 'config.yml')], { stdio: 'ignore' });
  await eventually('the registry', async () => (await fetch(`http://${registryHost}/v2/`).then((r) => r.ok, () => false)) || undefined, 20_000, 100);
  const built = buildTestImage(join(tmp, 'image'));
  image = `${registryHost}/library/busybox:1.35`;
  await pushImage(new RegistryClient({ insecureRegistries: [registryHost] }), openLayout(built.dir), undefined, image);

  ctl = await startController({ host: lab.gateway, runArgs: ['--no-scheduler'] });
  lab.spawn('h1', 'agent', [
    process.execPath, join(out, 'node-agent', 'main.js'), 'join', '--server', ctl.bootstrapAddress, '--token', ctl.joinToken, '--ca-hash', ctl.caHash,
    '--node-name', 'h1', '--node-ip', nodeIP, '--state-dir', join(tmp, 'state'), '--run-dir', join(tmp, 'run'),
    '--cgroup-parent', cgroupParent, '--insecure-registry', registryHost, '--health-port', '0', '--heartbeat-seconds', '1',
  ]);
  await until('node h1 Ready with a pod subnet', async () => {
    const r = await api<Node>('/api/v1/nodes/h1');
    return r.status === 200 && r.body.spec?.podCIDR && r.body.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
  }, 90_000);
  await must('/api/v1/namespaces', { method: 'POST', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } } });
}, 300_000);

afterAll(async () => {
  if (ctl) {
    const pods = await api<{ items: Pod[] }>(`/api/v1/namespaces/${NS}/pods`).catch(() => undefined);
    for (const p of pods?.body?.items ?? []) await api(`/api/v1/namespaces/${NS}/pods/${p.metadata.name}`, { method: 'DELETE' }).catch(() => undefined);
    await eventually('the pods gone', async () => ((await api<{ items: Pod[] }>(`/api/v1/namespaces/${NS}/pods`)).body.items.length === 0 ? true : undefined), 60_000, 500).catch(() => undefined);
  }
  lab?.down();
  if (tmp && existsSync(join(tmp, 'state'))) {
    const rt = await NodeRuntime.create({ stateDir: join(tmp, 'state'), runDir: join(tmp, 'run'), cgroupParent, log: silentLogger() }).catch(() => undefined);
    for (const st of (await rt?.listPods().catch(() => [])) ?? []) await rt!.killPod({ metadata: { uid: st.uid } }, 0).catch(() => undefined);
  }
  for (const m of tmp ? mountsUnder([tmp]) : []) {
    try {
      native.umount(m, native.MNT_DETACH);
    } catch {
      /* gone */
    }
  }
  await new CgroupManager({ parent: cgroupParent }).remove(cgroupParent).catch(() => undefined);
  await ctl?.stop();
  registry?.kill('SIGTERM');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (out) rmSync(out, { recursive: true, force: true });
}, 180_000);

describe('[agent] probes and lifecycle hooks on a real node', () => {
  it('an httpGet readiness probe on a named port keeps the pod not Ready until the page exists, then Ready', async () => {
    await createPod('web', {
      containers: [
        {
          name: 'httpd',
          image,
          command: ['sh', '-c', 'mkdir -p /www; httpd -p 8080 -h /www; sleep 6; echo ok > /www/ready; trap "exit 0" TERM; while true; do sleep 1; done'],
          ports: [{ name: 'web', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/ready', port: 'web', httpHeaders: [{ name: 'X-Probe', value: 'flotilla' }] }, periodSeconds: 1 },
        },
      ],
    });
    const notReady = await until('web running but not ready', async () => {
      const p = await getPod('web');
      return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    });
    expect(notReady.status?.containerStatuses?.[0]).toMatchObject({ ready: false, started: true });
    expect(condition(notReady, 'Ready')).toBe('False');
    expect(condition(notReady, 'ContainersReady')).toBe('False');
    const unhealthy = await until('the Unhealthy event', async () => (await eventsOf('web')).find((e) => e.reason === 'Unhealthy'));
    expect(unhealthy).toMatchObject({ type: 'Warning', message: 'Readiness probe failed: HTTP probe failed with statuscode: 404' });
    const ready = await until('web Ready', async () => {
      const p = await getPod('web');
      return condition(p, 'Ready') === 'True' ? p : undefined;
    }, 30_000);
    expect(ready.status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0 });
    expect(condition(ready, 'ContainersReady')).toBe('True');
    await deletePod('web');
  });

  it('an exec liveness probe that starts failing restarts the container (preStop first), with Unhealthy and Killing events', async () => {
    const data = join(tmp, 'live');
    mkdirSync(data);
    await createPod('live', {
      volumes: [{ name: 'data', hostPath: { path: data, type: 'Directory' } }],
      containers: [
        {
          name: 'c',
          image,
          command: ['sh', '-c', 'touch /tmp/healthy; sleep 4; rm /tmp/healthy; while true; do sleep 1; done'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
          livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 2, terminationGracePeriodSeconds: 1 },
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /data/log'] } } },
        },
      ],
    });
    const p = await until('live restarted once', async () => {
      const p = await getPod('live');
      const c = p.status?.containerStatuses?.[0];
      return c && c.restartCount >= 1 && c.state?.running ? p : undefined;
    }, 60_000);
    expect(p.status?.containerStatuses?.[0]?.restartCount).toBe(1);
    const evs = await eventsOf('live');
    expect(evs.find((e) => e.reason === 'Unhealthy')).toMatchObject({ type: 'Warning', message: "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory" });
    expect(evs.find((e) => e.reason === 'Killing')).toMatchObject({ type: 'Normal', message: 'Container c failed liveness probe, will be restarted' });
    expect(readFileSync(join(data, 'log'), 'utf8')).toBe('prestop\n');
    await deletePod('live');
  });

  it('restartPolicy OnFailure: a container killed for a failed liveness probe is restarted even though it exits 0 on SIGTERM', async () => {
    await createPod('live-ok', {
      restartPolicy: 'OnFailure',
      containers: [
        {
          name: 'c',
          image,
          // Healthy for 3 s, then not; SIGTERM ends it cleanly with exit code 0.
          command: ['sh', '-c', 'trap "exit 0" TERM; touch /tmp/healthy; sleep 3; rm /tmp/healthy; while true; do sleep 0.2; done'],
          livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 2, terminationGracePeriodSeconds: 2 },
        },
      ],
    });
    const p = await until('live-ok restarted after its liveness kill', async () => {
      const p = await getPod('live-ok');
      const c = p.status?.containerStatuses?.[0];
      return c && c.restartCount >= 1 && c.state?.running ? p : undefined;
    }, 60_000);
    expect(p.status?.phase).toBe('Running');
    expect(p.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect((await eventsOf('live-ok')).find((e) => e.reason === 'Killing')?.message).toBe('Container c failed liveness probe, will be restarted');
    await deletePod('live-ok');
  });

  it('restartPolicy Never: a container killed for a failed liveness probe is not restarted and the pod ends Failed', async () => {
    await createPod('live-never', {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'c',
          image,
          // Ignores SIGTERM: the SIGKILL after the probe's grace period ends it (137).
          command: ['sh', '-c', 'trap "" TERM; touch /tmp/healthy; sleep 3; rm /tmp/healthy; while true; do sleep 0.2; done'],
          livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 2, terminationGracePeriodSeconds: 1 },
        },
      ],
    });
    const p = await until('live-never Failed', async () => {
      const p = await getPod('live-never');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, 60_000);
    expect(p.status?.containerStatuses?.[0]).toMatchObject({ restartCount: 0, state: { terminated: { exitCode: 137, reason: 'Error' } } });
    await deletePod('live-never');
  });

  it('a tcpSocket readiness probe fails with the dial error until the port listens', async () => {
    await createPod('tcp', {
      containers: [{ name: 'c', image, command: ['sh', '-c', 'sleep 4; exec httpd -f -p 9000'], readinessProbe: { tcpSocket: { port: 9000 }, periodSeconds: 1 } }],
    });
    const ev = await until('the tcp Unhealthy event', async () => (await eventsOf('tcp')).find((e) => e.reason === 'Unhealthy'));
    const ip = (await getPod('tcp')).status?.podIP;
    expect(ip).toBeTruthy();
    expect(ev.message).toBe(`Readiness probe failed: dial tcp ${ip}:9000: connect: connection refused`);
    const p = await until('tcp Ready', async () => {
      const p = await getPod('tcp');
      return condition(p, 'Ready') === 'True' ? p : undefined;
    }, 30_000);
    expect(p.status?.containerStatuses?.[0]?.ready).toBe(true);
    await deletePod('tcp');
  });

  it('a startup probe holds liveness back: the container is not started until it passes, and is never killed', async () => {
    await createPod('slow', {
      containers: [
        {
          name: 'c',
          image,
          command: ['sh', '-c', 'sleep 6; touch /tmp/started; trap "exit 0" TERM; while true; do sleep 1; done'],
          startupProbe: { exec: { command: ['test', '-f', '/tmp/started'] }, periodSeconds: 1, failureThreshold: 30 },
          // Alone, this liveness probe would kill the container within two seconds.
          livenessProbe: { exec: { command: ['test', '-f', '/tmp/started'] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ],
    });
    const early = await until('slow running', async () => {
      const p = await getPod('slow');
      return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    });
    expect(early.status?.containerStatuses?.[0]).toMatchObject({ started: false, ready: false });
    const started = await until('slow started and ready', async () => {
      const p = await getPod('slow');
      return p.status?.containerStatuses?.[0]?.started === true && condition(p, 'Ready') === 'True' ? p : undefined;
    }, 40_000);
    expect(started.status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0 });
    const evs = await eventsOf('slow');
    expect(evs.some((e) => e.message?.startsWith('Startup probe failed'))).toBe(true);
    expect(evs.some((e) => e.message?.startsWith('Liveness probe failed') || e.reason === 'Killing')).toBe(false);
    await deletePod('slow');
  });

  it('a grpc readiness probe asks grpc.health.v1.Health/Check for its service and is ready once SERVING', async () => {
    // The health server runs on the node (a hostNetwork pod is probed at the node's IP), serving
    // NOT_SERVING for "app" until a flag file appears.
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const flag = join(tmp, 'grpc-serving');
    const script = join(out, 'grpc-health-server.mjs');
    writeFileSync(
      script,
      [
        `import * as grpc from '@grpc/grpc-js';`,
        `import { existsSync } from 'node:fs';`,
        `import { HEALTH_SERVICE } from './node-agent/probes/grpc-health.js';`,
        `const s = new grpc.Server();`,
        `s.addService(HEALTH_SERVICE, { check: (call, cb) => cb(null, { status: call.request.service === 'app' && existsSync(${JSON.stringify(flag)}) ? 'SERVING' : 'NOT_SERVING' }) });`,
        `s.bindAsync('0.0.0.0:${port}', grpc.ServerCredentials.createInsecure(), (e) => { if (e) { console.error(e); process.exit(1); } });`,
      ].join('\n'),
    );
    lab.spawn('h1', 'grpc', [process.execPath, script]);
    await createPod('grpc', {
      hostNetwork: true,
      containers: [{ name: 'c', image, command: SLEEP, readinessProbe: { grpc: { port, service: 'app' }, periodSeconds: 1 } }],
    });
    const ev = await until('the grpc Unhealthy event', async () => (await eventsOf('grpc')).find((e) => e.reason === 'Unhealthy' && e.message?.includes('NOT_SERVING')));
    expect(ev.message).toBe('Readiness probe failed: service unhealthy (responded with "NOT_SERVING")');
    expect(condition(await getPod('grpc'), 'Ready')).toBe('False');
    writeFileSync(flag, '');
    await until('grpc Ready', async () => condition(await getPod('grpc'), 'Ready') === 'True' || undefined, 30_000);
    await deletePod('grpc');
  });

  it('postStart writes a file the container sees; a failing postStart kills the container with FailedPostStartHook', async () => {
    await createPod('hooked', {
      containers: [
        {
          name: 'c',
          image,
          command: ['sh', '-c', 'while ! [ -f /tmp/poststart ]; do sleep 0.1; done; echo "saw $(cat /tmp/poststart)" > /tmp/seen; trap "exit 0" TERM; while true; do sleep 1; done'],
          lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo hello > /tmp/poststart'] } } },
        },
      ],
    });
    await until('hooked running', async () => (await getPod('hooked')).status?.containerStatuses?.[0]?.state?.running || undefined);
    const seen = await until('the container saw the file', async () => {
      const r = await flotctl(ctl.kubeconfig, ['exec', '-n', NS, 'hooked', '--', 'cat', '/tmp/seen']);
      return r.code === 0 ? r.stdout : undefined;
    }, 20_000);
    expect(seen).toBe('saw hello\n');
    await deletePod('hooked');

    await createPod('badhook', {
      containers: [{ name: 'c', image, command: SLEEP, lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo nope; exit 3'] } } } }],
    });
    const ev = await until('FailedPostStartHook', async () => (await eventsOf('badhook')).find((e) => e.reason === 'FailedPostStartHook'));
    expect(ev.type).toBe('Warning');
    expect(ev.message).toMatch(/^Exec lifecycle hook \(\[sh -c echo nope; exit 3\]\) for Container "c" in Pod "badhook_probes\(.*\)" failed - error: nope/);
    await until('badhook restarted', async () => ((await getPod('badhook')).status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 || undefined, 30_000);
    await deletePod('badhook');
  });

  it('preStop runs before SIGTERM on delete, inside the grace period; a preStop longer than the grace period is cut off', async () => {
    const data = join(tmp, 'prestop');
    mkdirSync(data);
    await createPod('stopper', {
      terminationGracePeriodSeconds: 10,
      volumes: [{ name: 'data', hostPath: { path: data, type: 'Directory' } }],
      containers: [
        {
          name: 'c',
          image,
          command: ['sh', '-c', 'trap "echo TERM >> /data/log; exit 0" TERM; while true; do sleep 0.2; done'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /data/log; sleep 1; echo prestop-done >> /data/log'] } } },
        },
      ],
    });
    await until('stopper running', async () => (await getPod('stopper')).status?.containerStatuses?.[0]?.state?.running || undefined);
    const ms = await deletePod('stopper');
    expect(readFileSync(join(data, 'log'), 'utf8')).toBe('prestop\nprestop-done\nTERM\n');
    expect(ms).toBeLessThan(10_000);

    await createPod('stuck', {
      terminationGracePeriodSeconds: 3,
      containers: [{ name: 'c', image, command: SLEEP, lifecycle: { preStop: { exec: { command: ['sleep', '60'] } } } }],
    });
    await until('stuck running', async () => (await getPod('stuck')).status?.containerStatuses?.[0]?.state?.running || undefined);
    const stuckMs = await deletePod('stuck');
    // 3 s of grace for the hook, then at least 2 s for SIGTERM → SIGKILL, as the kubelet gives.
    expect(stuckMs).toBeGreaterThan(2_500);
    expect(stuckMs).toBeLessThan(15_000);
  });
});
