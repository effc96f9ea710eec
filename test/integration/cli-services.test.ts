// flotctl for Services on a hollow cluster (the real controller, hollow nodes
// whose pods get IPs and turn Ready), each output checked against real kubectl
// 1.33 on the same cluster: `expose` builds the same Service (client dry run
// line by line, the created object field by field) and fails with the same
// words; `get svc|ep|endpointslices` prints the same columns and cells (AGE
// aside); `describe svc|ep|endpointslice` prints the same lines.
// Build first: npx tsc -p tsconfig.json && node hack/postbuild.mjs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { EndpointSlice, Service } from '../../api/index.js';
import { eventually } from '../helpers/flotctl.js';
import { HollowCluster } from '../helpers/hollow-cluster.js';

const cluster = new HollowCluster({ prefix: `csv${process.pid % 1000}`, nodes: 2, kubectl: ['1.33'] });
const { api, apply, kubectl, flotctl } = cluster;
beforeAll(cluster.start, 120_000);
afterAll(cluster.stop, 60_000);

const deployment = (name: string, replicas: number, selector: string, ports: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: {app: ${name}, tier: front}
spec:
  replicas: ${replicas}
  selector:
    ${selector}
  template:
    metadata:
      labels: {app: ${name}, tier: a}
    spec:
      containers:
      - name: main
        image: busybox:1.35
        ports: ${ports}
`;

const WORKLOADS = [
  deployment('web', 3, 'matchLabels: {app: web}', '[{name: http, containerPort: 8080}]'),
  deployment('multi', 0, 'matchLabels: {app: multi}', '[{containerPort: 8080}, {containerPort: 53, protocol: UDP}, {containerPort: 53, protocol: TCP}]'),
  deployment('mixed', 0, 'matchLabels: {app: mixed}\n    matchExpressions: [{key: tier, operator: In, values: [a, b]}, {key: app, operator: Exists}]', '[{containerPort: 80}]'),
  deployment('exprs', 0, 'matchExpressions: [{key: app, operator: In, values: [exprs]}]', '[{containerPort: 80}]'),
  `apiVersion: v1
kind: Pod
metadata: {name: bare}
spec:
  containers: [{name: c, image: busybox:1.35, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: noports, labels: {app: noports}}
spec:
  containers: [{name: c, image: busybox:1.35}]
`,
].join('---\n');

/** Both clients on the same arguments; kubectl's name in its messages read as flotctl's. */
async function both(args: string[]) {
  const [k, f] = [await kubectl(args), await flotctl(args)];
  return { k: { ...k, stderr: k.stderr.replaceAll('kubectl', 'flotctl') }, f };
}

/** A table's rows as cells (columns are 3+ spaces apart, cells have none), the AGE column left out. */
function cellsWithoutAge(table: string): string[][] {
  const rows = table.trimEnd().split('\n').map((l) => l.split(/ {3,}/));
  const age = rows[0]!.indexOf('AGE');
  return rows.map((r) => r.filter((_, i) => i !== age));
}

const readySlices = async (svc: string, n: number) => {
  const { body } = await api<{ items: EndpointSlice[] }>('GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${svc}`)}`);
  return body.items.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready)).length === n;
};

describe('[cli-services] flotctl expose, as kubectl 1.33', () => {
  beforeAll(async () => {
    await apply(WORKLOADS);
  });

  it.each([
    [['deployment', 'web', '--port', '80']],
    [['deployment', 'web']],
    [['deploy/multi']],
    [['deployment', 'web', '--port', '80,81', '--target-port', 'http', '--type', 'NodePort', '--name', 'web-np', '--selector', 'app=web,tier=x', '--labels', 'a=b']],
    [['deployment', 'web', '--port', '53', '--protocol', 'UDP', '--cluster-ip', 'None', '--session-affinity', 'ClientIP', '-n', 'default']],
    [['pod', 'noports', '--port', '80', '--selector', 'bad key=v']],
  ])('expose %j --dry-run=client -o yaml prints the Service kubectl prints', async (args) => {
    const { k, f } = await both(['expose', ...args, '--dry-run=client', '-o', 'yaml']);
    expect(k.code).toBe(0);
    expect(f.stderr).toBe('');
    expect(f.stdout.split('\n')).toEqual(k.stdout.split('\n'));
    expect(f.code).toBe(0);
  });

  it('-o json prints the same object', async () => {
    const { k, f } = await both(['expose', 'deployment', 'web', '--port', '80', '--dry-run=client', '-o', 'json']);
    expect(JSON.parse(f.stdout)).toEqual(JSON.parse(k.stdout));
  });

  it.each([
    [['deployment', 'mixed', '--port', '80']],
    [['deployment', 'exprs', '--port', '80']],
    [['pod', 'bare', '--port', '80']],
    [['service', 'kubernetes', '--name', 'k2', '--dry-run=client']],
    [['deployment', 'web', '--port', 'abc']],
    [['deployment', 'nope', '--port', '80']],
    [['deployment', 'web', '--port', '80', '--dry-run=bogus']],
    [['deployment']],
    [[]],
    [['deployment', 'web', '--port', '80', '--type', 'Bogus']],
    [['deployment', 'web', '--port', '70000']],
    [['deployment', 'web', '--port', '80', '--protocol', 'SCTPX']],
    [['deployment', 'web', '--port', '80', '--selector', 'a=b=c', '--dry-run=client']],
    [['deployment', 'web', '--port', '80', '--selector', 'novalue', '--dry-run=client']],
    [['deployment', 'web', '--port', '80', '--labels', '=v', '--dry-run=client']],
    [['deployment', 'web', '--port', '80', '--session-affinity', 'Sticky', '--dry-run=client']],
  ])('expose %j fails with kubectl\'s words', async (args) => {
    const { k, f } = await both(['expose', ...args]);
    expect(k.code).toBe(1);
    expect(f.stdout).toBe('');
    expect(f.stderr).toBe(k.stderr);
    expect(f.code).toBe(1);
  });

  it('a node cannot be exposed; a deployment without ports needs --port (usage errors)', async () => {
    const node = cluster.nodeNames[0]!;
    const n = await both(['expose', 'node', node, '--port', '80']);
    expect(n.f.stderr).toBe(n.k.stderr);
    const p = await both(['expose', 'pod', 'noports']);
    expect(p.k.stderr.split('\n')[0]).toBe("error: couldn't find port via --port flag or introspection");
    expect(p.f.stderr).toBe("error: couldn't find port via --port flag or introspection\nSee 'flotctl expose --help' for usage.\n");
    expect([p.f.code, n.f.code]).toEqual([1, 1]);
  });

  it('creates the Service: selector from matchLabels, named target port, labels from the Deployment', async () => {
    const r = await flotctl(['expose', 'deployment', 'web', '--port', '80', '--target-port', 'http']);
    expect(r).toMatchObject({ code: 0, stdout: 'service/web exposed\n', stderr: '' });
    const svc = (await api<Service>('GET', '/api/v1/namespaces/default/services/web')).body;
    expect(svc.spec.selector).toEqual({ app: 'web' });
    expect(svc.spec.ports).toEqual([{ port: 80, protocol: 'TCP', targetPort: 'http' }]);
    expect(svc.metadata.labels).toEqual({ app: 'web', tier: 'front' });
    expect(svc.spec.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
    const again = await both(['expose', 'deployment', 'web', '--port', '80']);
    expect(again.f.stderr).toBe(again.k.stderr);
    expect(again.f.stderr).toBe('Error from server (AlreadyExists): services "web" already exists\n');
  });

  it('the same Service as kubectl for NodePort, LoadBalancer, headless and a Service exposed again', async () => {
    const cases: [string, string[]][] = [
      ['np', ['deployment', 'web', '--port', '80', '--type', 'NodePort']],
      ['lb', ['deployment', 'web', '--port', '80', '--type', 'LoadBalancer']],
      ['hl', ['deployment', 'web', '--port', '80', '--cluster-ip', 'None']],
      ['re', ['service', 'web', '--type', 'NodePort']],
    ];
    for (const [suffix, args] of cases) {
      expect(await kubectl(['expose', ...args, '--name', `k-${suffix}`])).toMatchObject({ code: 0, stdout: `service/k-${suffix} exposed\n` });
      expect(await flotctl(['expose', ...args, '--name', `f-${suffix}`])).toMatchObject({ code: 0, stdout: `service/f-${suffix} exposed\n` });
      const get = async (n: string) => (await api<Service>('GET', `/api/v1/namespaces/default/services/${n}`)).body;
      const [k, f] = [await get(`k-${suffix}`), await get(`f-${suffix}`)];
      const comparable = (s: Service) => ({ labels: s.metadata.labels, type: s.spec.type, selector: s.spec.selector, headless: s.spec.clusterIP === 'None', ports: s.spec.ports?.map(({ nodePort: _n, ...p }) => p) });
      expect(comparable(f)).toEqual(comparable(k));
    }
    const dry = await both(['expose', 'deployment', 'web', '--port', '80', '--name', 'web-dry', '--dry-run=server', '-o', 'yaml']);
    const masked = (s: string) => s.replace(/10\.96\.\d+\.\d+/g, 'CLUSTER-IP');
    expect(masked(dry.f.stdout).split('\n')).toEqual(masked(dry.k.stdout).split('\n'));
    expect((await api('GET', '/api/v1/namespaces/default/services/web-dry')).status).toBe(404);
    // -o yaml of a created Service is the stored object, printed as kubectl prints it
    const created = await flotctl(['expose', 'deployment', 'web', '--port', '80', '--name', 'f-yaml', '-o', 'yaml']);
    expect(created.code).toBe(0);
    expect(created.stdout.split('\n')).toEqual((await kubectl(['get', 'svc', 'f-yaml', '-o', 'yaml'])).stdout.split('\n'));
  });
});

describe('[cli-services] flotctl get and describe, as kubectl 1.33', () => {
  beforeAll(async () => {
    await eventually('web, f-lb and f-hl with 3 ready endpoints each', async () => (await readySlices('web', 3)) && (await readySlices('f-lb', 3)) && (await readySlices('f-hl', 3)), 60_000);
    // the LoadBalancer's ingress (the node IPs) is written after the Service
    await eventually('f-lb with its ingress', async () => ((await api<Service>('GET', '/api/v1/namespaces/default/services/f-lb')).body.status?.loadBalancer?.ingress ?? []).length > 0);
  }, 90_000);

  it.each([
    [['get', 'svc']],
    [['get', 'services', '-o', 'wide']],
    [['get', 'svc', '-l', 'app=web']],
    [['get', 'svc', 'web', 'f-np']],
    [['get', 'ep']],
    [['get', 'endpoints', 'web', '-o', 'wide']],
    [['get', 'endpointslices']],
    [['get', 'endpointslices', '-o', 'wide', '-A']],
    [['get', 'ep', '-A', '-l', 'app=web']],
  ])('%j: the same columns and cells (AGE aside)', async (args) => {
    const { k, f } = await both(args);
    expect(k.code).toBe(0);
    expect(f.stderr).toBe(k.stderr);
    expect(cellsWithoutAge(f.stdout)).toEqual(cellsWithoutAge(k.stdout));
    expect(f.code).toBe(0);
  });

  it.each([
    [['get', 'svc', 'f-lb', '-o', 'yaml']],
    [['get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json']],
  ])('%j prints the objects kubectl prints', async (args) => {
    // the same documents; flotctl writes keys in the stored order where kubectl sorts them
    const { k, f } = await both(args);
    expect(parseYaml(f.stdout)).toEqual(parseYaml(k.stdout));
    expect([f.code, f.stderr]).toEqual([0, '']);
  });

  it.each([
    [['get', 'svc', 'nope']],
    [['get', 'endpointslices', '-l', 'kubernetes.io/service-name=nope']],
  ])('%j prints what kubectl prints', async (args) => {
    const { k, f } = await both(args);
    expect(f.stdout.split('\n')).toEqual(k.stdout.split('\n'));
    expect(f.stderr).toBe(k.stderr);
    expect(f.code).toBe(k.code);
  });

  it.each([
    [['describe', 'svc', 'web']],
    [['describe', 'service', 'f-np']],
    [['describe', 'svc', 'f-lb']],
    [['describe', 'svc', 'f-hl']],
    [['describe', 'svc', 'kubernetes']],
    [['describe', 'svc', 'kube-dns', '-n', 'kube-system']],
    [['describe', 'svc', '-l', 'app=web']],
    [['describe', 'ep', 'web']],
    [['describe', 'endpoints', 'kubernetes']],
    [['describe', 'endpointslice', '-l', 'kubernetes.io/service-name=web']],
    [['describe', 'svc', 'nope']],
  ])('%j prints kubectl\'s lines', async (args) => {
    const { k, f } = await both(args);
    expect(f.stdout.split('\n')).toEqual(k.stdout.split('\n'));
    expect(f.stderr).toBe(k.stderr);
    expect(f.code).toBe(k.code);
  });

  it('past three endpoints both say how many more; get ep and describe agree with kubectl', async () => {
    expect((await flotctl(['scale', 'deployment', 'web', '--replicas=5'])).code).toBe(0);
    await eventually('5 ready endpoints', () => readySlices('web', 5), 60_000);
    const d = await both(['describe', 'svc', 'web']);
    expect(d.f.stdout.split('\n')).toEqual(d.k.stdout.split('\n'));
    expect(d.f.stdout).toMatch(/^Endpoints: +(\d+\.){3}\d+:8080,(\S+),(\S+) \+ 2 more\.\.\.$/m);
    const g = await both(['get', 'ep', 'web']);
    expect(cellsWithoutAge(g.f.stdout)).toEqual(cellsWithoutAge(g.k.stdout));
  });
});
