// The whole system as a user sees it: hack/up.sh brings up a 3-host lab cluster
// (controller with its etcd, a registry, one agent per host, the demo pods), then
// flotctl and kubectl drive it. Heartbeat periods are shortened so node failure
// shows within seconds. Runs in file order; hack/down.sh ends it with a leak audit.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFile, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Node, Pod } from '../../api/index.js';
import { LabCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/flotctl.js';
import { REPO_ROOT } from '../helpers/lab.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

let c: LabCluster;

const KUBECTL = '/opt/flotilla/kubernetes-client/usr/bin/kubectl';
const ipv4ToInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
function inCidr(ip: string, cidr: string): boolean {
  const [base, len] = cidr.split('/');
  const mask = Number(len) === 0 ? 0 : (0xffffffff << (32 - Number(len))) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(base!) & mask) >>> 0);
}

async function pod(name: string, ns = 'default'): Promise<Pod> {
  return c.json<Pod>(['get', 'pod', name, '-n', ns]);
}

async function podWhen(name: string, what: string, ok: (p: Pod) => boolean, ns = 'default', ms = 90_000): Promise<Pod> {
  return eventually(`pod ${ns}/${name} ${what}`, async () => {
    const p = await pod(name, ns);
    return ok(p) ? p : undefined;
  }, ms, 500);
}

const KUBECTL_133 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
function kubectlAt(bin: string, args: string[], stdin?: string): Promise<string> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing`);
  return new Promise<string>((resolve, reject) => {
    const child = execFile(bin, args, { env: { PATH: process.env.PATH, HOME: c.clusterDir, KUBECONFIG: c.kubeconfig } }, (err, stdout, stderr) =>
      err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    );
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}

const podsOf = async (selector: string, ns = 'default'): Promise<Pod[]> =>
  (await c.json<{ items: Pod[] }>(['get', 'pods', '-n', ns, '-l', selector])).items;
const isReady = (p: Pod) => p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') === true;

const running = (p: Pod) => p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((s) => s.ready);

async function apply(yaml: string): Promise<string> {
  return c.ok(['apply', '-f', '-'], { stdin: yaml });
}

const podYaml = (name: string, spec: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
${spec.replace(/^/gm, '  ')}
`;

beforeAll(async () => {
  requireRoot('the e2e suite');
  requireBinaries('the e2e suite', 'ip', 'nsenter', 'crun', 'conmon', 'etcd', 'docker-registry');
  c = await LabCluster.up({
    nodes: 3,
    controllerArgs: ['--node-monitor-grace-period', '5', '--pod-eviction-timeout', '5'],
    // A short proxy re-check so the [services] drift test sees a repair within seconds.
    agentArgs: ['--heartbeat-seconds', '1', '--proxy-resync-period', '2s'],
  });
}, 480_000);

afterAll(async () => {
  if (c) await c.down().catch(() => undefined);
}, 200_000);

describe('[cluster] hack/up.sh', () => {
  it('brings every node Ready and every demo pod Running with an IP from its node subnet', async () => {
    expect(c.upOutput).toMatch(/the cluster is up/);
    const nodes = (await c.json<{ items: Node[] }>(['get', 'nodes'])).items;
    expect(nodes.map((n) => n.metadata.name).sort()).toEqual(['h1', 'h2', 'h3']);
    for (const n of nodes) {
      expect(n.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
      expect(n.spec?.podCIDR).toMatch(/^10\.244\.\d+\.0\/24$/);
    }
    const cidrOf = new Map(nodes.map((n) => [n.metadata.name!, n.spec!.podCIDR!]));
    const pods = (await c.json<{ items: Pod[] }>(['get', 'pods', '-n', 'demo'])).items;
    expect(pods.map((p) => p.metadata.name).sort()).toEqual(['client', 'web-h1', 'web-h2', 'web-h3']);
    for (const p of pods) {
      expect(p.status?.phase).toBe('Running');
      expect(inCidr(p.status!.podIP!, cidrOf.get(p.spec.nodeName!)!)).toBe(true);
      expect(p.status?.hostIP).toBe(c.hostIp(p.spec.nodeName!));
    }
    for (const h of ['h1', 'h2', 'h3']) expect((await pod(`web-${h}`, 'demo')).spec.nodeName).toBe(h);
  });

  it('running it again keeps what is up (idempotent) and changes nothing', async () => {
    const before = (await c.json<{ items: Pod[] }>(['get', 'pods', '-n', 'demo'])).items.map((p) => `${p.metadata.name}:${p.metadata.uid}`).sort();
    const out = await c.runUp(3);
    expect(out).toMatch(/already running/);
    expect(out).toMatch(/pod\/web-h1 unchanged/);
    const after = (await c.json<{ items: Pod[] }>(['get', 'pods', '-n', 'demo'])).items.map((p) => `${p.metadata.name}:${p.metadata.uid}`).sort();
    expect(after).toEqual(before);
  }, 300_000);

  it('[hardening] a pod cannot push to the lab registry; pushes need the loopback writer and its credentials', async () => {
    const upload = (host: string) => `http://${host}/v2/x/blobs/uploads/`;
    // A pod reaches the registry the nodes mirror docker.io to, and may read it, never write it.
    const push = await c.flotctl(['exec', '-n', 'demo', 'client', '--', 'wget', '-q', '-O-', '--post-data=', upload(c.registry)]);
    expect(push.code).not.toBe(0);
    expect(push.stderr + push.stdout).toContain('server returned error: HTTP/1.1 405 Method Not Allowed');
    expect((await c.ok(['exec', '-n', 'demo', 'client', '--', 'wget', '-q', '-O-', `http://${c.registry}/v2/`])).trim()).toBe('{}');
    // A lab host (where the agents pull) gets the image, cannot push, and has no way to the loopback writer.
    const manifest = c.hostExec('h1', ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Accept: application/vnd.oci.image.manifest.v1+json', `http://${c.registry}/v2/library/busybox/manifests/1.35`]);
    expect(manifest.stdout).toBe('200');
    const hostPush = c.hostExec('h1', ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', upload(c.registry)]);
    expect(hostPush.stdout).toBe('405');
    const writer = c.registryWriter;
    const toWriter = c.hostExec('h1', ['curl', '-sS', '-m', '3', '-X', 'POST', upload(writer.host)]);
    expect(toWriter.code).toBe(7); // curl: failed to connect
    expect(toWriter.stderr).toMatch(/Connection refused|Couldn't connect/);
    // On the machine itself the writer asks for credentials, and up.sh's are kept from other users.
    const anonymous = await fetch(upload(writer.host), { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await anonymous.text()).toContain('"code":"UNAUTHORIZED","message":"authentication required"');
    const basic = `Basic ${Buffer.from(`${writer.username}:${writer.password}`).toString('base64')}`;
    expect((await fetch(`http://${writer.host}/v2/`, { headers: { authorization: basic } })).status).toBe(200);
    const wrong = `Basic ${Buffer.from(`${writer.username}:not-the-password`).toString('base64')}`;
    expect((await fetch(upload(writer.host), { method: 'POST', headers: { authorization: wrong } })).status).toBe(401);
    for (const f of ['push-password', 'htpasswd']) expect((statSync(join(c.clusterDir, 'registry', f)).mode & 0o777).toString(8)).toBe('600');
  }, 60_000);
});

describe('[network] the VXLAN overlay', () => {
  it('pods on different hosts reach each other by IP: ping and HTTP', async () => {
    for (const h of ['h1', 'h2', 'h3']) {
      const web = await pod(`web-${h}`, 'demo');
      const ping = await c.flotctl(['exec', '-n', 'demo', 'client', '--', 'ping', '-c', '1', '-W', '3', web.status!.podIP!]);
      expect(ping.code, ping.stderr).toBe(0);
      expect(ping.stdout).toMatch(/1 packets received/);
      const http = await c.ok(['exec', '-n', 'demo', 'client', '--', 'wget', '-qO-', `http://${web.status!.podIP}:8080/`]);
      expect(http.trim()).toBe(`hello from web-${h}`);
    }
  });

  it('a pod reaches its own host and a remote host; hosts reach remote pods', async () => {
    const own = await c.flotctl(['exec', '-n', 'demo', 'web-h1', '--', 'ping', '-c', '1', '-W', '3', c.hostIp('h1')]);
    expect(own.code, own.stderr).toBe(0);
    const remote = await c.flotctl(['exec', '-n', 'demo', 'web-h1', '--', 'ping', '-c', '1', '-W', '3', c.hostIp('h3')]);
    expect(remote.code, remote.stderr).toBe(0);
    const web2 = await pod('web-h2', 'demo');
    expect(c.hostExec('h1', ['ping', '-c', '1', '-W', '3', web2.status!.podIP!]).code).toBe(0);
  });

  it('flotctl net check reports every node pair reachable', async () => {
    const r = await c.flotctl(['net', 'check'], { timeoutMs: 180_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/9\/9 pairs reachable/);
  }, 200_000);

  it('flotctl get subnets lists one lease per node with its underlay IP', async () => {
    const out = await c.ok(['get', 'subnets']);
    for (const h of ['h1', 'h2', 'h3']) expect(out).toMatch(new RegExp(`^${h}\\s+10\\.244\\.\\d+\\.0/24\\s+${c.hostIp(h).replace(/\./g, '\\.')}\\s`, 'm'));
  });
});

describe('[workloads] logs, exec and the examples', () => {
  it('logs show what a container wrote; exec returns stdout, stderr and the exit code', async () => {
    await apply(podYaml('talker', `terminationGracePeriodSeconds: 1
containers:
- name: main
  image: busybox:1.35
  command: [/bin/sh, -c, 'for i in 1 2 3; do echo line $i; done; exec sleep 3600']`));
    await podWhen('talker', 'to run', running);
    const logs = await eventually('three log lines', async () => {
      const out = await c.ok(['logs', 'talker']);
      return out.includes('line 3') ? out : undefined;
    });
    expect(logs).toBe('line 1\nline 2\nline 3\n');
    expect(await c.ok(['logs', 'talker', '--tail', '1'])).toBe('line 3\n');
    const ex = await c.flotctl(['exec', 'talker', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(ex).toMatchObject({ code: 3, stdout: 'out\n' });
    expect(ex.stderr).toBe('err\ncommand terminated with exit code 3\n');
    const stdin = await c.flotctl(['exec', '-i', 'talker', '--', 'wc', '-l'], { stdin: 'a\nb\n' });
    expect(stdin.stdout.trim()).toBe('2');
  });

  it('the real kubectl lists nodes and pods and reads logs', async () => {
    if (!existsSync(KUBECTL)) throw new Error(`${KUBECTL} is missing: run hack/deps.sh`);
    const kubectl = (args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(KUBECTL, args, { env: { PATH: process.env.PATH, HOME: c.clusterDir, KUBECONFIG: c.kubeconfig } }, (err, stdout, stderr) =>
          err ? reject(new Error(`kubectl ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
        ),
      );
    expect(await kubectl(['get', 'nodes'])).toMatch(/^h2\s+Ready\s/m);
    expect(await kubectl(['get', 'pods', '-n', 'demo', '-o', 'wide'])).toMatch(/^web-h3\s+1\/1\s+Running\s+0\s+\S+\s+10\.244\.\d+\.\d+\s+h3\s/m);
    expect(await kubectl(['logs', 'talker'])).toBe('line 1\nline 2\nline 3\n');
  });

  it('every example in manifests/ applies and reaches Running', async () => {
    for (const f of ['pod.yaml', 'multi-container.yaml', 'limits.yaml']) {
      const out = await c.ok(['apply', '-f', join(REPO_ROOT, 'manifests', f)]);
      expect(out).toMatch(/created|unchanged/);
    }
    for (const name of ['hello', 'shared', 'limited']) await podWhen(name, 'to run', running);
    // The two containers of `shared` see one emptyDir and one localhost.
    const served = await eventually('the reader to serve what the writer wrote', async () => {
      const r = await c.flotctl(['exec', 'shared', '-c', 'writer', '--', 'wget', '-qO-', 'http://127.0.0.1:8080/log.txt']);
      return r.code === 0 && r.stdout.trim().length > 0 ? r.stdout : undefined;
    });
    expect(served).toMatch(/\d{2}:\d{2}:\d{2}/);
    expect(await c.ok(['logs', 'shared', '-c', 'writer'])).toMatch(/\d{2}:\d{2}:\d{2}/);
    expect(await c.ok(['logs', 'limited'])).toBe('hello from /tmp\n');
    await c.ok(['delete', '-f', join(REPO_ROOT, 'manifests', 'multi-container.yaml')]);
  }, 120_000);

  it('a pod reads a ConfigMap and a Secret as env and files, and sees a ConfigMap change in its volume', async () => {
    await c.ok(['apply', '-f', join(REPO_ROOT, 'manifests', 'config.yaml')]);
    await podWhen('configured', 'to run', running);
    expect(await c.ok(['logs', 'configured'])).toBe('greeting=hello from a ConfigMap level=3 pod=configured\n');
    expect(await c.ok(['exec', 'configured', '--', 'cat', '/etc/app/greeting'])).toBe('hello from a ConfigMap');
    expect(await c.ok(['exec', 'configured', '--', 'cat', '/etc/secret/password'])).toBe('s3cr3t');
    expect(await c.ok(['exec', 'configured', '--', 'sh', '-c', 'echo "$PASSWORD $POD_IP"'])).toMatch(/^s3cr3t 10\.244\.\d+\.\d+\n$/);
    await c.ok(['apply', '-f', '-'], { stdin: 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  greeting: changed\n  level: "4"\n' });
    const seen = await eventually(
      'the changed ConfigMap in the running pod',
      async () => {
        const r = await c.flotctl(['exec', 'configured', '--', 'cat', '/etc/app/greeting']);
        return r.stdout === 'changed' ? r.stdout : undefined;
      },
      90_000,
    );
    expect(seen).toBe('changed');
    await c.ok(['delete', '-f', join(REPO_ROOT, 'manifests', 'config.yaml')]);
  }, 180_000);
});

describe('[lifecycle] restart policies, OOM and graceful deletion', () => {
  it('a crashing container restarts with back-off and shows CrashLoopBackOff', async () => {
    await apply(podYaml('crasher', `containers:
- name: main
  image: busybox:1.35
  command: [/bin/sh, -c, 'echo boom; exit 1']`));
    const p = await podWhen('crasher', 'to back off after restarts', (x) => {
      const s = x.status?.containerStatuses?.[0];
      return (s?.restartCount ?? 0) >= 1 && s?.state?.waiting?.reason === 'CrashLoopBackOff';
    });
    expect(p.status?.containerStatuses?.[0]?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(await c.ok(['get', 'pod', 'crasher'])).toMatch(/^crasher\s+0\/1\s+CrashLoopBackOff\s+\d+/m);
    // events are written apart from the status (batched, best effort, as in Kubernetes): wait for it
    const events = await eventually('the BackOff event in describe', async () => {
      const d = await c.ok(['describe', 'pod', 'crasher']);
      return /BackOff.*Back-off restarting failed container/.test(d) ? d : undefined;
    });
    expect(events).toMatch(/BackOff.*Back-off restarting failed container/);
  });

  it('restartPolicy Never leaves a failed pod Failed; OnFailure after exit 0 is Succeeded', async () => {
    await apply(podYaml('once-failed', `restartPolicy: Never
containers:
- name: main
  image: busybox:1.35
  command: [/bin/sh, -c, 'exit 2']`));
    await apply(podYaml('once-ok', `restartPolicy: OnFailure
containers:
- name: main
  image: busybox:1.35
  command: [/bin/sh, -c, 'echo done']`));
    const failed = await podWhen('once-failed', 'to fail', (p) => p.status?.phase === 'Failed');
    expect(failed.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
    expect(failed.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    const ok = await podWhen('once-ok', 'to succeed', (p) => p.status?.phase === 'Succeeded');
    expect(ok.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(await c.ok(['get', 'pod', 'once-ok'])).toMatch(/^once-ok\s+0\/1\s+Completed\s+0/m);
  });

  it('a container over its memory limit is OOMKilled with exit code 137', async () => {
    await apply(podYaml('hog', `restartPolicy: Never
containers:
- name: main
  image: busybox:1.35
  command: [/bin/sh, -c, 'x=$(head -c 100000000 /dev/zero | tr "\\\\0" a); echo \${#x}']
  resources:
    limits: {memory: 16Mi}`));
    const p = await podWhen('hog', 'to be OOMKilled', (x) => x.status?.containerStatuses?.[0]?.state?.terminated !== undefined);
    expect(p.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    expect(await c.ok(['get', 'pod', 'hog'])).toMatch(/^hog\s+0\/1\s+OOMKilled\s/m);
  });

  it('delete sends SIGTERM, waits the grace period for a container that ignores it, then kills it', async () => {
    await apply(podYaml('stubborn', `terminationGracePeriodSeconds: 3
containers:
- name: main
  image: busybox:1.35
  command: [/bin/sh, -c, 'trap "echo got TERM" TERM; while true; do sleep 1; done']`));
    await podWhen('stubborn', 'to run', running);
    const t0 = Date.now();
    await c.ok(['delete', 'pod', 'stubborn', '--wait'], { timeoutMs: 60_000 });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(2500); // the grace period was honoured
    const gone = await c.flotctl(['get', 'pod', 'stubborn']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/pods "stubborn" not found/);
  });
});

describe('[workloads] Deployments, DaemonSets and Jobs from the documentation examples, on real hosts', () => {
  it('kubectl 1.33 applies the Deployment, DaemonSet and Job examples unchanged and they make the pods Kubernetes would', async () => {
    for (const f of ['nginx-deployment.yaml', 'daemonset.yaml', 'job.yaml']) {
      expect(await kubectlAt(KUBECTL_133, ['apply', '-f', join(REPO_ROOT, 'manifests', f)])).toMatch(/created|configured|unchanged/);
    }
    try {
      // The Deployment: 3 Running pods named <rs>-<5>, owned by its one ReplicaSet, serving on port 80.
      const web = await eventually('3 nginx-deployment pods Running and Ready', async () => {
        const ps = (await podsOf('app=nginx')).filter((p) => !p.metadata.deletionTimestamp);
        return ps.length === 3 && ps.every(running) ? ps : undefined;
      }, 120_000, 500);
      const rsName = web[0]!.metadata.ownerReferences?.[0]?.name ?? '';
      expect(rsName).toMatch(/^nginx-deployment-[a-z0-9]+$/);
      for (const p of web) {
        expect(p.metadata.name).toMatch(new RegExp(`^${rsName}-[a-z0-9]{5}$`));
        expect(p.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicaSet', name: rsName, controller: true });
      }
      // busybox httpd answers on port 80 across the overlay (its root has no index page: a 404 is its answer)
      const served = await c.flotctl(['exec', '-n', 'demo', 'client', '--', 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${web[0]!.status!.podIP} 80`]);
      expect(served.stdout, served.stderr).toMatch(/^HTTP\/1\.[01] \d{3}/);
      expect(await kubectlAt(KUBECTL_133, ['get', 'deployment', 'nginx-deployment'])).toMatch(/^nginx-deployment\s+3\/3\s+3\s+3\s/m);
      // The DaemonSet: one Running pod on each of the three hosts.
      const daemons = await eventually('a fluentd-elasticsearch pod Running on every node', async () => {
        const ps = (await podsOf('name=fluentd-elasticsearch', 'kube-system')).filter(running);
        return ps.length === 3 ? ps : undefined;
      }, 120_000, 500);
      expect(daemons.map((p) => p.spec?.nodeName).sort()).toEqual(['h1', 'h2', 'h3']);
      expect(await kubectlAt(KUBECTL_133, ['get', 'ds', '-n', 'kube-system', 'fluentd-elasticsearch'])).toMatch(/^fluentd-elasticsearch\s+3\s+3\s+3\s+3\s+3\s/m);
      // The Job: completes, and its pod printed pi.
      await kubectlAt(KUBECTL_133, ['wait', '--for=condition=complete', 'job/pi', '--timeout=120s']);
      const [pi] = await podsOf('job-name=pi');
      expect(pi?.status?.phase).toBe('Succeeded');
      expect(await c.ok(['logs', pi!.metadata.name!])).toBe('3.141592653589793\n');
    } finally {
      // Deleting them removes their pods (the garbage collector, through the owners); also when an assertion failed.
      for (const f of ['nginx-deployment.yaml', 'daemonset.yaml', 'job.yaml']) await kubectlAt(KUBECTL_133, ['delete', '--ignore-not-found', '-f', join(REPO_ROOT, 'manifests', f)]);
      await eventually('the example pods to be gone', async () =>
        (await podsOf('app=nginx')).length + (await podsOf('name=fluentd-elasticsearch', 'kube-system')).length + (await podsOf('job-name=pi')).length === 0, 120_000, 500);
      await eventually('the ReplicaSet to be gone', async () => (await c.json<{ items: unknown[] }>(['get', 'replicasets'])).items.length === 0, 60_000, 500);
    }
  }, 400_000);
});

describe('[workloads] a rolling update gated by real readiness probes', () => {
  it('10 replicas whose httpGet readiness probe turns ready after 3 s: never fewer than replicas − maxUnavailable Ready, never more than replicas + maxSurge pods (sampled through a watch)', async () => {
    const template = (version: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: roll
spec:
  replicas: 10
  selector:
    matchLabels: {app: roll}
  template:
    metadata:
      labels: {app: roll}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:1.35
        env: [{name: VERSION, value: '${version}'}]
        command: [sh, -c, 'mkdir -p /www; (sleep 3; echo ok > /www/ready) & exec httpd -f -p 8080 -h /www']
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1}
`;
    const rolledOut = (version: string) =>
      eventually(`10 roll pods of version ${version} Ready`, async () => {
        const ps = (await podsOf('app=roll')).filter((p) => !p.metadata.deletionTimestamp);
        return ps.length === 10 && ps.every((p) => isReady(p) && p.spec?.containers[0]?.env?.[0]?.value === version) ? ps : undefined;
      }, 180_000, 500);
    await apply(template('1'));
    try {
      await rolledOut('1');
      // Every pod event, as the API sends it, from a watch on the label.
      const pods = new Map<string, Pod>();
      let samples = 0;
      let minReady = Infinity;
      let maxLive = 0;
      const gated = new Set<string>();
      let synced = false;
      const w = await c.watch('/api/v1/namespaces/default/pods?labelSelector=app%3Droll', (type, p: Pod) => {
        if (type === 'SYNCED') synced = true;
        else if (type === 'DELETED') pods.delete(p.metadata.name!);
        else pods.set(p.metadata.name!, p);
        if (!synced) return;
        samples++;
        const live = [...pods.values()].filter((x) => !x.metadata.deletionTimestamp);
        minReady = Math.min(minReady, live.filter(isReady).length);
        maxLive = Math.max(maxLive, live.length);
        // A new pod Running but not yet Ready: the probe, not the container start, decides.
        if (p?.spec?.containers[0]?.env?.[0]?.value === '2' && p.status?.phase === 'Running' && !isReady(p)) gated.add(p.metadata.name!);
      });
      try {
        await apply(template('2'));
        await rolledOut('2');
        await eventually('the old pods to be gone', async () => (await podsOf('app=roll')).length === 10, 60_000, 500);
      } finally {
        w.stop();
      }
      expect(w.errors).toEqual([]);
      expect(samples).toBeGreaterThan(20);
      // 25 % of 10: maxUnavailable 2 (rounded down), maxSurge 3 (rounded up).
      expect(minReady).toBeGreaterThanOrEqual(8);
      expect(maxLive).toBeLessThanOrEqual(13);
      expect(gated.size, 'new pods seen Running before their readiness probe passed').toBeGreaterThanOrEqual(5);
      expect(await kubectlAt(KUBECTL_133, ['rollout', 'status', 'deployment/roll', '--timeout=10s'])).toMatch(/successfully rolled out/);
    } finally {
      await c.ok(['delete', 'deployment', 'roll']);
      await eventually('the roll pods to be gone', async () => (await podsOf('app=roll')).length === 0, 90_000, 500);
    }
  }, 400_000);
});

describe('[services] ClusterIP and NodePort through every node\'s service proxy', () => {
  const NS = 'svc-e2e';
  const HOSTS = ['h1', 'h2', 'h3'];
  let clusterIP = '';
  let nodePort = 0;

  const backendsYaml = `apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: ${NS}}
spec:
  replicas: 3
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 5
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {matchLabels: {app: echo}}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: httpd
        image: busybox:1.35
        command: [/bin/sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: ${NS}}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-np, namespace: ${NS}}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: 8080}]
${HOSTS.map((h) => `---
apiVersion: v1
kind: Pod
metadata: {name: client-${h}, namespace: ${NS}}
spec:
  nodeSelector: {kubernetes.io/hostname: ${h}}
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: 'busybox:1.35', command: [sleep, '86400']}
`).join('')}`;

  /** A shell loop of N requests to URL, one connection each, printing the answer (a hostname) or FAIL. (busybox 1.35's wget -T crashes: timeout instead.) */
  const requestLoop = (url: string, n: number, pauseSec = 0) => `for i in $(seq ${n}); do timeout 3 wget -qO- ${url} || echo FAIL; ${pauseSec > 0 ? `sleep ${pauseSec};` : ''} done`;
  /** N requests to URL from a pod: the answers. */
  async function requests(from: string, url: string, n: number, pauseSec = 0): Promise<string[]> {
    const loop = requestLoop(url, n, pauseSec);
    const out = await c.ok(['exec', '-n', NS, from, '--', 'sh', '-c', loop], { timeoutMs: 120_000 });
    return out.split('\n').map((l) => l.trim()).filter(Boolean);
  }
  const backends = async () => (await podsOf('app=echo', NS)).filter((p) => !p.metadata.deletionTimestamp && isReady(p));
  const table = (h: string) => c.hostExec(h, ['nft', 'list', 'table', 'ip', 'flotilla-proxy']);
  /** The same without blocking the event loop (the propagation timing runs beside a watch). */
  const tableText = (h: string) =>
    new Promise<string>((resolve) => execFile('ip', ['netns', 'exec', `${c.prefix}-${h}`, 'nft', 'list', 'table', 'ip', 'flotilla-proxy'], (_e, out) => resolve(out ?? '')));

  it('a 3-replica Deployment behind a ClusterIP answers from a pod on every node, spread over all 3 backends', async () => {
    await apply(backendsYaml);
    const ready = await eventually('3 backends on 3 nodes Ready and 3 clients Running', async () => {
      const b = await backends();
      const clients = await Promise.all(HOSTS.map((h) => pod(`client-${h}`, NS)));
      return b.length === 3 && new Set(b.map((p) => p.spec.nodeName)).size === 3 && clients.every(running) ? b : undefined;
    }, 180_000, 1000);
    const svc = await c.json<{ spec: { clusterIP: string; ports: { nodePort?: number }[] } }>(['get', 'service', 'echo', '-n', NS]);
    clusterIP = svc.spec.clusterIP;
    nodePort = (await c.json<{ spec: { ports: { nodePort: number }[] } }>(['get', 'service', 'echo-np', '-n', NS])).spec.ports[0]!.nodePort;
    const names = ready.map((p) => p.metadata.name!).sort();
    // every node's table holds the three endpoints
    for (const h of HOSTS) {
      await eventually(`${h}'s rules with every backend`, async () => {
        const t = table(h).stdout;
        return ready.every((p) => t.includes(p.status!.podIP!)) && t.includes(clusterIP);
      }, 20_000, 200);
    }
    for (const h of HOSTS) {
      const got = await requests(`client-${h}`, `http://${clusterIP}/`, 30);
      expect(got, `from client-${h}`).toHaveLength(30);
      expect(got.filter((l) => l === 'FAIL'), `from client-${h}`).toEqual([]);
      expect([...new Set(got)].sort(), `backends reached from client-${h}`).toEqual(names);
    }
  }, 300_000);

  it('a pod reaching itself through its Service is answered (hairpin)', async () => {
    const self = (await backends())[0]!;
    // 30 requests: with 3 backends some go back to the pod itself, which needs its bridge port in hairpin mode.
    const got = await requests(self.metadata.name!, `http://${clusterIP}/`, 30);
    expect(got.filter((l) => l === 'FAIL')).toEqual([]);
    expect(got).toContain(self.metadata.name);
  }, 60_000);

  it('a NodePort answers from the lab gateway on every node\'s IP', async () => {
    const names = (await backends()).map((p) => p.metadata.name!);
    for (const h of HOSTS) {
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const res = await fetch(`http://${c.hostIp(h)}:${nodePort}/`, { signal: AbortSignal.timeout(5000) });
        expect(res.status).toBe(200);
        seen.add((await res.text()).trim());
      }
      for (const n of seen) expect(names).toContain(n);
      expect(seen.size, `backends reached through ${h}:${nodePort}`).toBeGreaterThan(1);
    }
  }, 120_000);

  it('a deleted backend leaves every node\'s rules within 2 s, and no request to the Service fails meanwhile', async () => {
    const victim = (await backends()).find((p) => p.spec.nodeName === 'h3')!;
    const ip = victim.status!.podIP!;
    // 60 requests, one every 0.1 s, from h1 while the backend goes
    const sampling = requests('client-h1', `http://${clusterIP}/`, 60, 0.1);
    // The clock starts when the API says the pod is terminating (its watch event), as a user's watch would see it.
    let t0 = 0;
    const w = await c.watch(`/api/v1/namespaces/${NS}/pods`, (type, o) => {
      if (t0 === 0 && o?.metadata?.name === victim.metadata.name && (type === 'DELETED' || o?.metadata?.deletionTimestamp)) t0 = Date.now();
    });
    const gone: Record<string, number> = {};
    try {
      await new Promise((r) => setTimeout(r, 1500));
      await c.ok(['delete', 'pod', victim.metadata.name!, '-n', NS, '--wait=false']);
      const mentions = new RegExp(`${ip.replace(/\./g, '\\.')}(?!\\d)`);
      await eventually('the deleted backend out of every node\'s rules', async () => {
        const texts = await Promise.all(HOSTS.map(tableText));
        HOSTS.forEach((h, i) => {
          if (t0 > 0 && gone[h] === undefined && !mentions.test(texts[i]!)) gone[h] = Date.now() - t0;
        });
        return Object.keys(gone).length === HOSTS.length;
      }, 20_000, 20);
    } finally {
      w.stop();
    }
    for (const h of HOSTS) expect(gone[h], `ms until ${h} dropped ${ip}`).toBeLessThan(2000);
    const got = await sampling;
    expect(got).toHaveLength(60);
    // at most the one request that was in flight to the deleted pod as it went
    expect(got.filter((l) => l === 'FAIL').length, got.join(' ')).toBeLessThanOrEqual(1);
    // the ReplicaSet's replacement joins the rules again
    await eventually('3 backends again', async () => (await backends()).length === 3, 120_000, 1000);
  }, 240_000);

  it('a hand-deleted rule is restored by the next re-check, with a ProxyRulesDrifted Warning on the Node', async () => {
    const del = c.hostExec('h2', ['nft', 'delete', 'element', 'ip', 'flotilla-proxy', 'service-ips', `{ ${clusterIP} . tcp . 80 }`]);
    expect(del.code, del.stderr).toBe(0);
    expect(table('h2').stdout).not.toContain(`${clusterIP} . tcp . 80`);
    // re-check period 2 s (agentArgs): restored within a few seconds
    await eventually('the element back in h2\'s table', async () => table('h2').stdout.includes(`${clusterIP} . tcp . 80`), 15_000, 200);
    const got = await requests('client-h2', `http://${clusterIP}/`, 5);
    expect(got.filter((l) => l === 'FAIL')).toEqual([]);
    const ev = await eventually('a ProxyRulesDrifted event on node h2', async () => {
      const list = await c.json<{ items: { reason: string; type: string; message: string; involvedObject: { kind: string; name: string } }[] }>(['get', 'events', '-n', 'default']);
      return list.items.find((e) => e.reason === 'ProxyRulesDrifted' && e.involvedObject.kind === 'Node' && e.involvedObject.name === 'h2');
    }, 20_000, 500);
    expect(ev.type).toBe('Warning');
    expect(ev.message).toContain('rewritten');
  }, 60_000);

  it('an agent restart leaves the node\'s Service rules in place: a pod on it reaches the ClusterIP throughout', async () => {
    // The requests run as the pod's own command and are read from its log afterwards:
    // an exec stream would go through the very agent being restarted.
    await apply(podYaml('sampler', `nodeSelector: {kubernetes.io/hostname: h2}
terminationGracePeriodSeconds: 1
restartPolicy: Never
containers:
- name: c
  image: busybox:1.35
  command: [sh, -c, 'sleep 2; ${requestLoop(`http://${clusterIP}/`, 100, 0.1)}; echo DONE']`).replace('name: sampler', `name: sampler\n  namespace: ${NS}`));
    await podWhen('sampler', 'Running', (p) => p.status?.phase === 'Running' || p.status?.phase === 'Succeeded', NS);
    await new Promise((r) => setTimeout(r, 3000));
    const cmd = await c.stop('h2-agent');
    await new Promise((r) => setTimeout(r, 2000));
    c.start('h2-agent', cmd);
    await eventually('h2 to heartbeat again', async () => /^h2\s+Ready\s/m.test(await c.ok(['get', 'nodes'])), 60_000, 500);
    const log = await eventually('the sampler to finish', async () => {
      const out = await c.ok(['logs', 'sampler', '-n', NS]);
      return out.includes('DONE') ? out : undefined;
    }, 90_000, 1000);
    const got = log.split('\n').map((l) => l.trim()).filter((l) => l && l !== 'DONE');
    expect(got).toHaveLength(100);
    expect(got.filter((l) => l === 'FAIL'), got.join(' ')).toEqual([]);
    await c.ok(['delete', 'namespace', NS, '--wait=false']);
  }, 180_000);
});

describe('[resilience] agent and controller restarts, node failure', () => {
  it('an agent restart with running pods restarts no pod and keeps traffic flowing', async () => {
    const before = await pod('web-h2', 'demo');
    const cmd = await c.stop('h2-agent');
    // While the agent is down its containers keep serving: a host reaches the pod across VXLAN.
    expect(c.hostExec('h1', ['ping', '-c', '1', '-W', '3', before.status!.podIP!]).code).toBe(0);
    c.start('h2-agent', cmd);
    await eventually('h2 to heartbeat again', async () => /^h2\s+Ready\s/m.test(await c.ok(['get', 'nodes'])), 60_000, 500);
    await new Promise((r) => setTimeout(r, 3000)); // a sync pass of the restarted agent
    const after = await pod('web-h2', 'demo');
    expect(running(after)).toBe(true);
    expect(after.status?.containerStatuses?.[0]?.restartCount).toBe(before.status?.containerStatuses?.[0]?.restartCount);
    expect(after.status?.containerStatuses?.[0]?.containerID).toBe(before.status?.containerStatuses?.[0]?.containerID);
    expect(after.status?.containerStatuses?.[0]?.state?.running?.startedAt).toBe(before.status?.containerStatuses?.[0]?.state?.running?.startedAt);
    expect(after.status?.podIP).toBe(before.status?.podIP);
    const http = await c.ok(['exec', '-n', 'demo', 'client', '--', 'wget', '-qO-', `http://${after.status!.podIP}:8080/`]);
    expect(http.trim()).toBe('hello from web-h2');
  }, 120_000);

  it('a controller restart loses nothing and new pods still run', async () => {
    const before = (await c.json<{ items: Pod[] }>(['get', 'pods', '-A'])).items.map((p) => p.metadata.uid).sort();
    const cmd = await c.stop('controller');
    c.start('controller', cmd);
    await eventually('the API to answer again', async () => (await c.flotctl(['get', 'nodes'])).code === 0, 60_000, 500);
    const after = (await c.json<{ items: Pod[] }>(['get', 'pods', '-A'])).items.map((p) => p.metadata.uid).sort();
    expect(after).toEqual(before);
    await apply(podYaml('after-restart', `terminationGracePeriodSeconds: 1
containers:
- name: main
  image: busybox:1.35
  command: [sleep, '3600']`));
    await podWhen('after-restart', 'to run', running);
  }, 120_000);

  it('a stopped agent makes its node NotReady and its pods evicted (tolerationSeconds 5) and gone; back, the node is Ready again', async () => {
    await apply(podYaml('on-h3', `nodeSelector: {kubernetes.io/hostname: h3}
terminationGracePeriodSeconds: 1
containers:
- name: main
  image: busybox:1.35
  command: [sleep, '3600']`));
    await podWhen('on-h3', 'to run', running);
    const cmd = await c.stop('h3-agent');
    await eventually('h3 to turn NotReady', async () => /^h3\s+NotReady\s/m.test(await c.ok(['get', 'nodes'])), 60_000, 500);
    await eventually('on-h3 to be evicted and gone', async () => !(await c.ok(['get', 'pods', '-o', 'name'])).split('\n').includes('pod/on-h3'), 60_000, 500);
    c.start('h3-agent', cmd);
    await eventually('h3 to be Ready again', async () => /^h3\s+Ready\s/m.test(await c.ok(['get', 'nodes'])), 60_000, 500);
  }, 150_000);

  it('kill -9 of an agent: its pods turn not ready at once and its Deployment pods run again on the other nodes within tolerationSeconds + 15 s', async () => {
    await apply(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: spread
spec:
  replicas: 6
  selector:
    matchLabels: {app: spread}
  template:
    metadata:
      labels: {app: spread}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 10}
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 10}
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector:
                matchLabels: {app: spread}
      containers:
      - name: main
        image: busybox:1.35
        command: [sleep, '3600']
`);
    const before = await eventually('6 spread pods Running', async () => {
      const ps = (await podsOf('app=spread')).filter((p) => !p.metadata.deletionTimestamp);
      return ps.length === 6 && ps.every(running) ? ps : undefined;
    }, 120_000, 500);
    const onH3 = before.filter((p) => p.spec?.nodeName === 'h3').map((p) => p.metadata.name!);
    expect(onH3.length, 'pods spread onto h3').toBeGreaterThan(0);
    const t0 = Date.now();
    const cmd = await c.stop('h3-agent', 'SIGKILL');
    // Not ready at once (the node monitor grace is 5 s here), long before their 10 s toleration ends.
    await eventually('the pods on h3 to turn Ready=False', async () => {
      const ps = (await podsOf('app=spread')).filter((p) => onH3.includes(p.metadata.name!));
      return ps.length === onH3.length && ps.every((p) => !isReady(p));
    }, 20_000, 250);
    const after = await eventually('6 spread pods Ready again, none on h3', async () => {
      const ps = (await podsOf('app=spread')).filter((p) => !p.metadata.deletionTimestamp && p.spec?.nodeName !== 'h3' && running(p));
      const left = (await podsOf('app=spread')).filter((p) => onH3.includes(p.metadata.name!));
      return ps.length === 6 && left.length === 0 ? ps : undefined;
    }, 90_000, 250);
    const seconds = (Date.now() - t0) / 1000;
    expect(after.every((p) => ['h1', 'h2'].includes(p.spec!.nodeName!))).toBe(true);
    expect(seconds, `replacement pods Running after ${seconds} s`).toBeLessThanOrEqual(10 + 15);
    c.start('h3-agent', cmd);
    await eventually('h3 to be Ready again', async () => /^h3\s+Ready\s/m.test(await c.ok(['get', 'nodes'])), 60_000, 500);
    // Back, the agent removes the sandboxes of the pods evicted while it was down.
    const evicted = before.filter((p) => p.spec?.nodeName === 'h3').map((p) => p.metadata.uid!);
    await eventually('h3 to tear down the evicted pods', async () => {
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
      return evicted.every((uid) => !mounts.includes(uid));
    }, 60_000, 500);
    await c.ok(['delete', 'deployment', 'spread']);
    await eventually('the spread pods to be gone', async () => (await podsOf('app=spread')).length === 0, 90_000, 500);
  }, 300_000);
});

describe('[network] nodes that join and leave', () => {
  it('a node that joins later becomes reachable from the others; deleting it removes its routes everywhere', async () => {
    await c.runUp(4);
    const nodes = (await c.json<{ items: Node[] }>(['get', 'nodes'])).items;
    const h4 = nodes.find((n) => n.metadata.name === 'h4')!;
    expect(h4.spec?.podCIDR).toMatch(/^10\.244\.\d+\.0\/24$/);
    await apply(podYaml('on-h4', `nodeSelector: {kubernetes.io/hostname: h4}
terminationGracePeriodSeconds: 1
containers:
- name: main
  image: busybox:1.35
  command: [sleep, '3600']`));
    const p = await podWhen('on-h4', 'to run', running);
    // From web-h1 (pinned to h1): across hosts whatever else landed on h4.
    const ping = await c.flotctl(['exec', '-n', 'demo', 'web-h1', '--', 'ping', '-c', '1', '-W', '3', p.status!.podIP!]);
    const overlay = () =>
      ['h1', 'h4']
        .map((h) => `${h}:\n${['route', 'neigh'].map((w) => c.hostExec(h, ['ip', w, 'show', 'dev', 'flotilla.1']).stdout).join('')}${c.hostExec(h, ['bridge', 'fdb', 'show', 'dev', 'flotilla.1']).stdout}`)
        .join('\n');
    expect(ping.code, ping.code === 0 ? '' : `${ping.stdout}${ping.stderr}\n${overlay()}`).toBe(0);
    const subnet = h4.spec!.podCIDR!;
    expect(c.hostExec('h1', ['ip', 'route', 'show', subnet]).stdout).toContain(subnet.split('/')[0]!);

    // Drained before it leaves, as with kubectl drain: every pod on h4 goes, not only
    // on-h4 (a demo pod replaced after h3's failure may have been scheduled there).
    const onH4 = (await c.json<{ items: Pod[] }>(['get', 'pods', '-A'])).items.filter((x) => x.spec?.nodeName === 'h4');
    expect(onH4.map((x) => x.metadata.name)).toContain('on-h4');
    for (const x of onH4) await c.ok(['delete', 'pod', '-n', x.metadata.namespace!, x.metadata.name!, '--wait']);
    await c.stop('h4-agent');
    await c.ok(['delete', 'node', 'h4']);
    await eventually('h4 routes to vanish from h1 and h2', async () =>
      ['h1', 'h2'].every((h) => c.hostExec(h, ['ip', 'route', 'show', subnet]).stdout.trim() === ''),
      60_000,
      500,
    );
    expect(await c.ok(['get', 'subnets'])).not.toMatch(/^h4\s/m);
  }, 300_000);
});

describe('[cleanup] nothing is left behind', () => {
  it('after every pod is deleted the hosts hold no pod namespaces, mounts or cgroups; down removes the rest', async () => {
    await c.ok(['delete', 'pods', '--all', '-A', '--wait=false']);
    await eventually('every pod to be gone', async () => (await c.json<{ items: Pod[] }>(['get', 'pods', '-A'])).items.length === 0, 120_000, 500).catch(async (e) => {
      // Say which pods stayed, where, and what the agents logged.
      throw new Error(`${(e as Error).message}\n${(await c.flotctl(['get', 'pods', '-A', '-o', 'wide'])).stdout}\n${c.logs()}`);
    });
    // The agents tore their pods down: no pod netns pins, no rootfs mounts, no pod cgroups.
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${c.clusterDir}/`) || m.startsWith(`${c.labState}/`))
      // Each agent's pin directory is itself a shared mount (as /run/netns is for `ip netns`); pins would be below it.
      .filter((m) => !/\/h\d+\/netns$/.test(m));
    expect(mounts).toEqual([]);
    for (const h of ['h1', 'h2', 'h3']) {
      const links = c.hostExec(h, ['ip', '-o', 'link', 'show', 'type', 'veth']).stdout.trim();
      expect(links.split('\n').filter((l) => l && !/ eth0[@:]/.test(l)), `${h} veths`).toEqual([]);
    }
    const out = await c.down();
    expect(out).toMatch(/removed/);
    expect(c.leftovers()).toEqual([]);
  }, 240_000);
});
