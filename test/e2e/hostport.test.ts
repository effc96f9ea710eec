// hostPort on the real 2-host lab cluster, as a user sees it: a pod with
// `hostPort: 18080` on h1 answers at h1's IP from h2 and from h1 itself; a second
// pod asking for the same port on h1 is not scheduled (as Kubernetes words it);
// an agent restart keeps the port answering; deleting the pod closes the port
// and leaves no rule in h1's `nft list ruleset`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../api/index.js';
import { LabCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/flotctl.js';
import { requireBinaries, requireRoot } from '../helpers/require.js';

let c: LabCluster;

const webYaml = (name: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector:
    kubernetes.io/hostname: h1
  containers:
  - name: httpd
    image: busybox:1.35
    command: ["sh", "-c", "mkdir -p /tmp/www && echo hello from ${name} > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
    ports:
    - containerPort: 8080
      hostPort: 18080
`;

const pod = (name: string) => c.json<Pod>(['get', 'pod', name]);
const running = (p: Pod) => p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((s) => s.ready);

function curlFrom(host: string, url: string): string | undefined {
  const r = c.hostExec(host, ['curl', '-sS', '--fail', '-m', '3', url]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

beforeAll(async () => {
  requireRoot('the hostPort e2e suite');
  requireBinaries('the hostPort e2e suite', 'ip', 'nsenter', 'crun', 'conmon', 'etcd', 'docker-registry', 'nft', 'curl');
  process.env.DEMO = '0'; // the demo needs 3 hosts; this suite needs only its own pods
  c = await LabCluster.up({ nodes: 2, agentArgs: ['--heartbeat-seconds', '1'] });
}, 480_000);

afterAll(async () => {
  if (c) await c.down().catch(() => undefined);
}, 200_000);

describe('[network] hostPort', () => {
  it('a pod’s hostPort answers at its node’s IP from another host and from the node itself', async () => {
    await c.ok(['apply', '-f', '-'], { stdin: webYaml('hp-web') });
    await eventually('pod hp-web to run', async () => running(await pod('hp-web')), 120_000, 500);
    const url = `http://${c.hostIp('h1')}:18080/`;
    expect(await eventually('the host port to answer from h2', async () => curlFrom('h2', url), 30_000, 300)).toBe('hello from hp-web');
    expect(curlFrom('h1', url)).toBe('hello from hp-web');
  }, 180_000);

  it('a second pod asking for the same host port on that node is not scheduled', async () => {
    await c.ok(['apply', '-f', '-'], { stdin: webYaml('hp-web-2') });
    const p = await eventually('hp-web-2 to be reported unschedulable', async () => {
      const q = await pod('hp-web-2');
      const cond = q.status?.conditions?.find((x) => x.type === 'PodScheduled');
      return cond?.status === 'False' ? cond : undefined;
    }, 30_000, 500);
    expect(p.message).toContain("node(s) didn't have free ports for the requested pod ports");
    await c.ok(['delete', 'pod', 'hp-web-2', '--wait=false']);
  }, 60_000);

  it('an agent restart keeps the port answering', async () => {
    const cmd = await c.stop('h1-agent');
    c.start('h1-agent', cmd);
    await eventually('h1 to heartbeat again', async () => /^h1\s+Ready\s/m.test(await c.ok(['get', 'nodes'])), 60_000, 500);
    await new Promise((r) => setTimeout(r, 3000)); // a sync pass of the restarted agent
    expect(curlFrom('h2', `http://${c.hostIp('h1')}:18080/`)).toBe('hello from hp-web');
  }, 120_000);

  it('deleting the pod closes the port and leaves no rule on the node', async () => {
    await c.ok(['delete', 'pod', 'hp-web']);
    await eventually('the host port to close', async () => curlFrom('h2', `http://${c.hostIp('h1')}:18080/`) === undefined, 30_000, 300);
    const ruleset = c.hostExec('h1', ['nft', 'list', 'ruleset']);
    expect(ruleset.code).toBe(0);
    expect(ruleset.stdout).not.toMatch(/18080|flotilla-hostport/);
  }, 60_000);
});
