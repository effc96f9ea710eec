// Services through the real API server and etcd, driven by real kubectl 1.20
// and 1.33: ClusterIPs and NodePorts are allocated (never twice), requested
// ones checked, released on delete and type changes, and kubectl prints the
// Service as against Kubernetes. Build first: npx tsc -p tsconfig.json.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service } from '../../api/index.js';
import { controllerApi, startController, type StartedController } from '../helpers/controller.js';
import { requireBinaries } from '../helpers/require.js';

const KUBECTL_133 = '/usr/lib/google-cloud-sdk/bin/kubectl.1.33';
const KUBECTL_120 = '/opt/flotilla/kubernetes-client/usr/bin/kubectl';
let ctl: StartedController;
let work: string;

function kubectl(args: string[], stdin?: string, bin = KUBECTL_133): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, KUBECONFIG: ctl.kubeconfig }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr }),
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

async function ok(args: string[], stdin?: string, bin = KUBECTL_133): Promise<string> {
  const r = await kubectl(args, stdin, bin);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const api = <T>(path: string, init: { method?: string; body?: unknown } = {}) => controllerApi<T>(ctl, path, init);
const getSvc = async (name: string) => (await api<Service>(`/api/v1/namespaces/default/services/${name}`)).body;
const svcYaml = (name: string, spec: string) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
${spec}`;

beforeAll(async () => {
  requireBinaries('services API tests (the controller runs its own etcd)', 'etcd');
  for (const k of [KUBECTL_133, KUBECTL_120]) if (!existsSync(k)) throw new Error(`services API tests need ${k}: run hack/deps.sh first`);
  work = mkdtempSync(join(tmpdir(), 'flotilla-svc-'));
  ctl = await startController();
}, 60_000);

afterAll(async () => {
  await ctl?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('[services] ClusterIP and NodePort allocation through the API', () => {
  it('kubectl apply of a ClusterIP Service gets an address of the service CIDR; kubectl 1.33 and 1.20 print it as Kubernetes', async () => {
    expect(await ok(['apply', '-f', '-'], svcYaml('web', '  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n'))).toBe('service/web created\n');
    const web = await getSvc('web');
    expect(web.spec?.clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
    expect(web.spec).toMatchObject({ type: 'ClusterIP', clusterIPs: [web.spec?.clusterIP], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster' });
    expect(web.spec?.ports).toEqual([{ port: 80, targetPort: 8080, protocol: 'TCP' }]);
    for (const bin of [KUBECTL_133, KUBECTL_120]) {
      const [head, row] = (await ok(['get', 'svc', 'web'], undefined, bin)).trim().split('\n');
      expect(head!.split(/\s{2,}/)).toEqual(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
      expect(row!.split(/\s{2,}/).slice(0, 5)).toEqual(['web', 'ClusterIP', web.spec?.clusterIP, '<none>', '80/TCP']);
      const wide = (await ok(['get', 'services', '-o', 'wide'], undefined, bin)).trim().split('\n');
      expect(wide[0]!.split(/\s{2,}/).pop()).toBe('SELECTOR');
      expect(wide.find((l) => l.startsWith('web '))!.split(/\s{2,}/).pop()).toBe('app=web');
    }
    // applying the same file again changes nothing: the allocated address stays
    expect(await ok(['apply', '-f', '-'], svcYaml('web', '  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: 8080\n'))).toBe('service/web unchanged\n');
    expect((await getSvc('web')).spec?.clusterIP).toBe(web.spec?.clusterIP);
  });

  it('a requested clusterIP is honoured; taken or outside the CIDR is a 422 naming spec.clusterIPs', async () => {
    await ok(['apply', '-f', '-'], svcYaml('fixed', '  clusterIP: 10.96.0.42\n  ports:\n  - port: 53\n    protocol: UDP\n'));
    expect((await getSvc('fixed')).spec?.clusterIP).toBe('10.96.0.42');
    const taken = await kubectl(['apply', '-f', '-'], svcYaml('other', '  clusterIP: 10.96.0.42\n  ports:\n  - port: 53\n'));
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toContain('The Service "other" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.42"}: failed to allocate IP 10.96.0.42: provided IP is already allocated');
    const outside = await kubectl(['apply', '-f', '-'], svcYaml('outside', '  clusterIP: 192.168.7.7\n  ports:\n  - port: 53\n'));
    expect(outside.stderr).toContain('the provided IP (192.168.7.7) is not in the valid range. The range of valid IPs is 10.96.0.0/16');
    expect((await api('/api/v1/namespaces/default/services/other')).status).toBe(404);
    // deleting gives the address back: another Service may take it now
    await ok(['delete', 'svc', 'fixed']);
    await ok(['apply', '-f', '-'], svcYaml('other', '  clusterIP: 10.96.0.42\n  ports:\n  - port: 53\n'));
    expect((await getSvc('other')).spec?.clusterIP).toBe('10.96.0.42');
  });

  it('NodePort: allocated in 30000-32767, a requested one checked, given back when the type changes to ClusterIP', async () => {
    await ok(['apply', '-f', '-'], svcYaml('np', '  type: NodePort\n  selector: {app: np}\n  ports:\n  - name: http\n    port: 80\n  - name: fixed\n    port: 81\n    nodePort: 30081\n'));
    const np = await getSvc('np');
    const [http, fixed] = np.spec!.ports!;
    expect(http!.nodePort).toBeGreaterThanOrEqual(30000);
    expect(http!.nodePort).toBeLessThanOrEqual(32767);
    expect(fixed!.nodePort).toBe(30081);
    expect(np.spec?.externalTrafficPolicy).toBe('Cluster');
    const row = (await ok(['get', 'svc', 'np'])).trim().split('\n')[1]!.split(/\s{2,}/);
    expect(row.slice(1, 5)).toEqual(['NodePort', np.spec?.clusterIP, '<none>', `80:${http!.nodePort}/TCP,81:30081/TCP`]);
    const clash = await kubectl(['apply', '-f', '-'], svcYaml('np2', '  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 30081\n'));
    expect(clash.stderr).toContain('spec.ports[0].nodePort: Invalid value: 30081: provided port is already allocated');
    const range = await kubectl(['apply', '-f', '-'], svcYaml('np3', '  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 8080\n'));
    expect(range.stderr).toContain('spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767');
    // back to ClusterIP: the node ports go back, the cluster IP stays
    await ok(['patch', 'svc', 'np', '--type=json', '-p', JSON.stringify([{ op: 'replace', path: '/spec/type', value: 'ClusterIP' }, { op: 'remove', path: '/spec/ports/0/nodePort' }, { op: 'remove', path: '/spec/ports/1/nodePort' }, { op: 'remove', path: '/spec/externalTrafficPolicy' }])]);
    const after = await getSvc('np');
    expect(after.spec?.clusterIP).toBe(np.spec?.clusterIP);
    expect(after.spec?.ports?.map((p) => p.nodePort)).toEqual([undefined, undefined]);
    await ok(['apply', '-f', '-'], svcYaml('np2', '  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 30081\n'));
    expect((await getSvc('np2')).spec?.ports?.[0]?.nodePort).toBe(30081);
  });

  it('headless and ExternalName Services take no address; kubectl shows None and the external name', async () => {
    await ok(['apply', '-f', '-'], svcYaml('db', '  clusterIP: None\n  selector: {app: db}\n  ports:\n  - port: 5432\n'));
    await ok(['apply', '-f', '-'], svcYaml('ext', '  type: ExternalName\n  externalName: db.example.org\n'));
    expect((await getSvc('db')).spec).toMatchObject({ clusterIP: 'None', clusterIPs: ['None'] });
    expect((await getSvc('ext')).spec?.clusterIP).toBeUndefined();
    const rows = (await ok(['get', 'svc', 'db', 'ext'])).trim().split('\n').slice(1).map((l) => l.split(/\s{2,}/).slice(0, 5));
    expect(rows).toEqual([
      ['db', 'ClusterIP', 'None', '<none>', '5432/TCP'],
      ['ext', 'ExternalName', '<none>', 'db.example.org', '<none>'],
    ]);
  });

  it('a clusterIP may not change once set, and a refused field is named', async () => {
    const ip = (await getSvc('web')).spec?.clusterIP;
    const r = await kubectl(['patch', 'svc', 'web', '--type=merge', '-p', '{"spec":{"clusterIP":"10.96.0.77","clusterIPs":["10.96.0.77"]}}']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/spec\.clusterIPs\[0\]: Invalid value: .*may not change once set/);
    expect((await getSvc('web')).spec?.clusterIP).toBe(ip);
    const ext = await kubectl(['apply', '-f', '-'], svcYaml('eips', '  externalIPs: [1.2.3.4]\n  ports:\n  - port: 80\n'));
    expect(ext.stderr).toContain('spec.externalIPs: Forbidden: not supported by Flotilla');
  });

  it('the API server keeps default/kubernetes: 10.96.0.1, https 443 to the API port; a loopback advertise address publishes no endpoint', async () => {
    const k = await getSvc('kubernetes');
    expect(k.metadata.labels).toEqual({ component: 'apiserver', provider: 'kubernetes' });
    expect(k.spec).toMatchObject({ type: 'ClusterIP', clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: Number(new URL(ctl.server).port) }] });
    const ep = (await api<{ subsets?: unknown[] }>('/api/v1/namespaces/default/endpoints/kubernetes')).body;
    expect(ep.subsets ?? []).toEqual([]);
  });

  it('a list of Services across namespaces holds only Services (the services config lives outside their keys)', async () => {
    const all = (await api<{ items: Service[] }>('/api/v1/services')).body.items;
    expect(all.length).toBeGreaterThan(0);
    for (const s of all) expect([s.metadata.namespace, s.spec?.type]).toEqual([expect.stringMatching(/^[a-z0-9-]+$/), expect.any(String)]);
    const rows = (await ok(['get', 'svc', '-A', '--no-headers'])).trim().split('\n');
    expect(rows.every((r) => /^[a-z0-9-]+\s+[a-z0-9-]+\s+(ClusterIP|NodePort|LoadBalancer|ExternalName)\s/.test(r)), rows.join('\n')).toBe(true);
  });

  it('kubectl cluster-info works now that services are served (it lists kube-system\'s cluster services)', async () => {
    for (const bin of [KUBECTL_133, KUBECTL_120]) {
      // eslint-disable-next-line no-control-regex
      const out = (await ok(['cluster-info'], undefined, bin)).replace(/\u001b\[[0-9;]*m/g, '');
      expect(out).toContain(`Kubernetes control plane is running at ${ctl.server}`);
      // the controller makes kube-system/kube-dns at start; every node's agent answers its IP
      expect(out).toContain(`Flotilla-DNS is running at ${ctl.server}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy`);
    }
  });

  it('kubectl 1.20 create service and expose-style writes allocate too', async () => {
    expect(await ok(['create', 'service', 'nodeport', 'made', '--tcp=8080:80'], undefined, KUBECTL_120)).toBe('service/made created\n');
    const made = await getSvc('made');
    expect(made.spec).toMatchObject({ type: 'NodePort', selector: { app: 'made' } });
    expect(made.spec?.ports?.[0]).toMatchObject({ name: '8080-80', port: 8080, targetPort: 80 });
    expect(made.spec?.ports?.[0]?.nodePort).toBeGreaterThanOrEqual(30000);
  });

  it('every address and port in use is held once in etcd, and deleting the Services gives them all back', async () => {
    const list = (await api<{ items: Service[] }>('/api/v1/namespaces/default/services')).body.items;
    const ips = list.flatMap((s) => (s.spec?.clusterIP && s.spec.clusterIP !== 'None' ? [s.spec.clusterIP] : []));
    expect(new Set(ips).size).toBe(ips.length);
    await ok(['delete', 'svc', '--all']);
    const left = (await api<{ items: Service[] }>('/api/v1/namespaces/default/services')).body.items;
    // only `kubernetes` may come back: the API server keeps it, as kube-apiserver does
    expect(left.map((s) => s.metadata.name).filter((n) => n !== 'kubernetes')).toEqual([]);
    // a fresh Service may take the requested port and address of a deleted one
    await ok(['apply', '-f', '-'], svcYaml('again', '  type: NodePort\n  clusterIP: 10.96.0.42\n  ports:\n  - port: 80\n    nodePort: 30081\n'));
    expect((await getSvc('again')).spec).toMatchObject({ clusterIP: '10.96.0.42', ports: [expect.objectContaining({ nodePort: 30081 })] });
  });
});
