// flotctl's Service parts that need no cluster: the describe layouts of
// Service, Endpoints and EndpointSlice (kubectl 1.33's), the get columns of the
// three kinds, and what `expose` reads from the exposed object (selector,
// ports and protocols) and builds from it.
import { describe, expect, it } from 'vitest';
import type { EndpointSlice, Endpoints, Event, Service } from '../../api/index.js';
import { buildService, checkExposable, parseDryRun, parseLabelSpec, portsForObject, selectorForObject } from '../../cli/commands/expose.js';
import { ApiStatusError, formatError } from '../../cli/errors.js';
import { tableFor } from '../../cli/printers/columns.js';
import { describeEndpointSlice, describeEndpoints, describeService, sliceEndpointsText } from '../../cli/printers/describe-services.js';

const NOW = Date.parse('2026-12-08T12:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();

const service = (spec: Partial<Service['spec']>, extra: Partial<Service> = {}): Service => ({
  metadata: { name: 'web', namespace: 'demo', labels: { tier: 'front', app: 'web' }, creationTimestamp: ago(90) },
  spec: { type: 'ClusterIP', clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster', selector: { app: 'web' }, ...spec },
  ...extra,
});

const endpoint = (ip: string, ready = true, node = 'n1') => ({ addresses: [ip], conditions: { ready, serving: ready, terminating: false }, nodeName: node, targetRef: { kind: 'Pod', name: `pod-${ip.split('.').pop()}`, namespace: 'demo' } });
const slice = (name: string, ports: EndpointSlice['ports'], endpoints: EndpointSlice['endpoints']): EndpointSlice => ({
  metadata: { name, namespace: 'demo', labels: { 'kubernetes.io/service-name': 'web' }, creationTimestamp: ago(30) },
  addressType: 'IPv4',
  ports,
  endpoints,
});

describe('describe service', () => {
  it("prints kubectl's lines: one Port/TargetPort/Endpoints group per port, Endpoints from the slices", () => {
    const svc = service({
      ports: [
        { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
        { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP' },
      ],
    });
    const s = slice('web-abcde', [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 5353, protocol: 'UDP' }], [endpoint('10.250.1.4'), endpoint('10.250.2.5', false)]);
    expect(describeService(svc, [s], [], NOW)).toBe(
      [
        'Name:                     web',
        'Namespace:                demo',
        'Labels:                   app=web',
        '                          tier=front',
        'Annotations:              <none>',
        'Selector:                 app=web',
        'Type:                     ClusterIP',
        'IP Family Policy:         SingleStack',
        'IP Families:              IPv4',
        'IP:                       10.96.0.20',
        'IPs:                      10.96.0.20',
        'Port:                     http  80/TCP',
        'TargetPort:               http/TCP',
        'Endpoints:                10.250.1.4:8080',
        'Port:                     dns  53/UDP',
        'TargetPort:               5353/UDP',
        'Endpoints:                10.250.1.4:5353',
        'Session Affinity:         None',
        'Internal Traffic Policy:  Cluster',
        'Events:                   <none>',
        '',
      ].join('\n'),
    );
  });

  it('a LoadBalancer shows its ingress with the ipMode, its NodePort and the external traffic policy', () => {
    const svc = service(
      { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80, targetPort: 80, protocol: 'TCP', nodePort: 30080 }] },
      { status: { loadBalancer: { ingress: [{ ip: '10.201.0.1', ipMode: 'VIP' }, { ip: '10.201.0.2', ipMode: 'VIP' }] } } },
    );
    const lines = describeService(svc, [], [], NOW).split('\n');
    expect(lines).toContain('LoadBalancer Ingress:     10.201.0.1 (VIP), 10.201.0.2 (VIP)');
    expect(lines).toContain('Port:                     <unset>  80/TCP');
    expect(lines).toContain('NodePort:                 <unset>  30080/TCP');
    // no slices at all: <none>, as kubectl says
    expect(lines).toContain('Endpoints:                <none>');
    expect(lines).toContain('External Traffic Policy:  Local');
  });

  it('slices without a ready endpoint leave the Endpoints line empty, its padding kept as kubectl keeps it', () => {
    const svc = service({ ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }] });
    const out = describeService(svc, [slice('web-x', [{ name: '', port: 80, protocol: 'TCP' }], [endpoint('10.250.1.9', false)])], [], NOW);
    expect(out.split('\n')).toContain('Endpoints:                ');
  });

  it('a headless Service without selector shows None and <none>; an ExternalName its name', () => {
    const headless = describeService(service({ clusterIP: 'None', clusterIPs: ['None'], selector: undefined, ports: [] }), [], [], NOW).split('\n');
    expect(headless).toEqual(expect.arrayContaining(['Selector:                 <none>', 'IP:                       None', 'IPs:                      None']));
    const ext = describeService(service({ type: 'ExternalName', externalName: 'db.example.com', clusterIP: undefined, clusterIPs: undefined, ipFamilies: undefined, ipFamilyPolicy: undefined }), [], [], NOW);
    expect(ext).toContain('\nIP Families:              <none>\nIP:                       \nIPs:                      <none>\nExternal Name:            db.example.com\n');
    expect(ext).not.toContain('IP Family Policy');
  });

  it('its events come last, aligned with the rest', () => {
    const ev = { metadata: { name: 'e', namespace: 'demo' }, type: 'Warning', reason: 'ClusterIPNotAllocated', message: 'repaired', source: { component: 'ipallocator-repair-controller' }, lastTimestamp: ago(5), count: 1 } as Event;
    const out = describeService(service({ ports: [] }), [], [ev], NOW).split('\n');
    expect(out.slice(-5)).toEqual(['Events:', '  Type     Reason                 Age   From                           Message', '  ----     ------                 ----  ----                           -------', '  Warning  ClusterIPNotAllocated  5s    ipallocator-repair-controller  repaired', '']);
  });
});

describe('the Endpoints line of a Service port', () => {
  const ports = [{ name: 'http', port: 8080, protocol: 'TCP' as const }];
  it('lists ready addresses of the port named like the Service port, three at most, then how many more', () => {
    const s = slice('a', ports, ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map((ip) => endpoint(ip)));
    expect(sliceEndpointsText([s], 'http')).toBe('10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more...');
    expect(sliceEndpointsText([s], 'other')).toBe('');
  });

  it('counts over every slice; a not-ready fourth endpoint still makes kubectl say "+ 0 more..."', () => {
    const one = slice('a', ports, [endpoint('10.0.0.1'), endpoint('10.0.0.2')]);
    const two = slice('b', ports, [endpoint('10.0.0.3'), endpoint('10.0.0.4', false)]);
    expect(sliceEndpointsText([one, two], 'http')).toBe('10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 0 more...');
  });

  it('a slice without ports (headless, no ports) lists bare addresses; IPv6 addresses are bracketed', () => {
    expect(sliceEndpointsText([slice('a', [], [endpoint('10.0.0.1')])], '')).toBe('10.0.0.1');
    expect(sliceEndpointsText([{ ...slice('a', ports, [endpoint('fd00::1')]), addressType: 'IPv6' }], 'http')).toBe('[fd00::1]:8080');
    expect(sliceEndpointsText([], 'http')).toBe('<none>');
  });
});

describe('describe endpoints and endpointslice', () => {
  it('endpoints: each subset with its addresses and ports, a blank line after it', () => {
    const ep: Endpoints = {
      metadata: { name: 'web', namespace: 'demo' },
      subsets: [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], notReadyAddresses: [{ ip: '10.0.0.3' }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] }],
    };
    expect(describeEndpoints(ep, [], NOW)).toBe(
      [
        'Name:         web',
        'Namespace:    demo',
        'Labels:       <none>',
        'Annotations:  <none>',
        'Subsets:',
        '  Addresses:          10.0.0.1,10.0.0.2',
        '  NotReadyAddresses:  10.0.0.3',
        '  Ports:',
        '    Name     Port  Protocol',
        '    ----     ----  --------',
        '    http     8080  TCP',
        '    <unset>  53    UDP',
        '',
        'Events:  <none>',
        '',
      ].join('\n'),
    );
  });

  it('endpointslice: ports, then each endpoint with its conditions, target and node', () => {
    const s = slice('web-abcde', [{ name: '', port: 8080, protocol: 'TCP' }], [endpoint('10.0.0.1', true, 'n2')]);
    expect(describeEndpointSlice(s, [], NOW)).toBe(
      [
        'Name:         web-abcde',
        'Namespace:    demo',
        'Labels:       kubernetes.io/service-name=web',
        'Annotations:  <none>',
        'AddressType:  IPv4',
        'Ports:',
        '  Name     Port  Protocol',
        '  ----     ----  --------',
        '  <unset>  8080  TCP',
        'Endpoints:',
        '  - Addresses:  10.0.0.1',
        '    Conditions:',
        '      Ready:    true',
        '    Hostname:   <unset>',
        '    TargetRef:  Pod/pod-1',
        '    NodeName:   n2',
        '    Zone:       <unset>',
        'Events:         <none>',
        '',
      ].join('\n'),
    );
    expect(describeEndpointSlice(slice('empty', [], []), [], NOW)).toContain('AddressType:  IPv4\nPorts: <unset>\nEndpoints: <none>\nEvents:  <none>\n');
  });
});

describe('get columns of services, endpoints and slices', () => {
  it('services: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE, wide adds SELECTOR', () => {
    const svc = service({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] });
    expect(tableFor('Service', [svc], { wide: true, withNamespace: false, now: NOW })).toEqual({
      header: ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR'],
      rows: [['web', 'NodePort', '10.96.0.20', '<none>', '80:30080/TCP,53/UDP', '90s', 'app=web']],
    });
  });

  it('endpointslices: NAME ADDRESSTYPE PORTS ENDPOINTS AGE; endpoints: NAME ENDPOINTS AGE', () => {
    const s = slice('web-abcde', [{ name: '', port: 8080, protocol: 'TCP' }], [endpoint('10.0.0.1'), endpoint('10.0.0.2')]);
    expect(tableFor('EndpointSlice', [s], { wide: false, withNamespace: true, now: NOW }).rows).toEqual([['demo', 'web-abcde', 'IPv4', '8080', '10.0.0.1,10.0.0.2', '30s']]);
    const ep: Endpoints = { metadata: { name: 'web', creationTimestamp: ago(30) }, subsets: [{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 8080 }] }] };
    expect(tableFor('Endpoints', [ep], { wide: false, withNamespace: false, now: NOW })).toEqual({ header: ['NAME', 'ENDPOINTS', 'AGE'], rows: [['web', '10.0.0.1:8080', '30s']] });
  });
});

describe('expose: what is read from the exposed object', () => {
  const deployment = (selector: object, ports: object[] = [{ containerPort: 8080 }]) => ({
    metadata: { name: 'web', labels: { app: 'web' } },
    spec: { selector, template: { spec: { containers: [{ name: 'c', image: 'i', ports }] } } },
  });

  it("a Deployment's or ReplicaSet's matchLabels are the selector", () => {
    expect(selectorForObject('Deployment', deployment({ matchLabels: { app: 'web', tier: 'a' } }) as never)).toEqual({ app: 'web', tier: 'a' });
    expect(selectorForObject('ReplicaSet', deployment({ matchLabels: { app: 'web' } }) as never)).toEqual({ app: 'web' });
  });

  it("matchExpressions are refused with kubectl's message, and no matchLabels at all too", () => {
    const sel = { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }, { key: 'x', operator: 'Exists' }] };
    expect(() => selectorForObject('Deployment', deployment(sel) as never)).toThrow('couldn\'t convert expressions - "[{Key:tier Operator:In Values:[a b]} {Key:x Operator:Exists Values:[]}]" to map-based selector format');
    expect(() => selectorForObject('ReplicaSet', deployment({ matchExpressions: sel.matchExpressions }) as never)).toThrow('invalid replicaset: no selectors, therefore cannot be exposed');
  });

  it("a pod's labels are the selector; a Service's selector is; without them, kubectl's errors", () => {
    expect(selectorForObject('Pod', { metadata: { name: 'p', labels: { app: 'p' } } } as never)).toEqual({ app: 'p' });
    expect(() => selectorForObject('Pod', { metadata: { name: 'p' } } as never)).toThrow('the pod has no labels and cannot be exposed');
    expect(selectorForObject('Service', { metadata: { name: 's' }, spec: { selector: { app: 'x' } } } as never)).toEqual({ app: 'x' });
    expect(() => selectorForObject('Service', { metadata: { name: 's' }, spec: {} } as never)).toThrow('the service has no pod selector set');
  });

  it('ports come from every container once each, with the protocols they are served with', () => {
    const d = deployment({ matchLabels: { app: 'web' } }, [{ containerPort: 8080 }, { containerPort: 53, protocol: 'UDP' }, { containerPort: 53, protocol: 'TCP' }]);
    expect(portsForObject('Deployment', d as never)).toEqual([
      { port: '8080', protocols: ['TCP'] },
      { port: '53', protocols: ['UDP', 'TCP'] },
    ]);
    expect(portsForObject('Service', { metadata: {}, spec: { ports: [{ port: 80, protocol: 'TCP' }] } } as never)).toEqual([{ port: '80', protocols: ['TCP'] }]);
    expect(portsForObject('Pod', { metadata: {}, spec: { containers: [{ name: 'c' }] } } as never)).toEqual([]);
  });

  it('only pods, services, replication controllers, deployments and replica sets can be exposed', () => {
    expect(() => checkExposable({ group: 'apps', kind: 'Deployment' })).not.toThrow();
    expect(() => checkExposable({ group: '', kind: 'Node' })).toThrow('cannot expose a Node');
    expect(() => checkExposable({ group: 'apps', kind: 'DaemonSet' })).toThrow('cannot expose a DaemonSet.apps');
  });

  it('label specs and dry-run values as kubectl reads them', () => {
    expect(parseLabelSpec('a=b,c=d')).toEqual({ a: 'b', c: 'd' });
    expect(() => parseLabelSpec('a=b=c')).toThrow('unexpected label spec: a=b=c');
    expect(parseDryRun(undefined)).toBe('none');
    expect(parseDryRun('server')).toBe('server');
    expect(() => parseDryRun('maybe')).toThrow('Invalid dry-run value (maybe). Must be "none", "server", or "client".');
  });
});

describe('expose: the Service built', () => {
  const base = { name: 'web', selector: { app: 'web' }, protocols: new Map<string, string[]>() };

  it('one port: unnamed, targetPort the port itself, TCP by default', () => {
    expect(buildService({ ...base, ports: ['80'] }).spec.ports).toEqual([{ protocol: 'TCP', port: 80, targetPort: 80 }]);
  });

  it('several ports are port-N; a port of two protocols becomes port-N-udp and port-N-tcp', () => {
    const svc = buildService({ ...base, ports: ['8080', '53'], protocols: new Map([['8080', ['TCP']], ['53', ['UDP', 'TCP']]]) });
    expect(svc.spec.ports).toEqual([
      { name: 'port-1', protocol: 'TCP', port: 8080, targetPort: 8080 },
      { name: 'port-2-udp', protocol: 'UDP', port: 53, targetPort: 53 },
      { name: 'port-2-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
    ]);
  });

  it('--target-port applies to every port, a number as a number and a name as a name; --protocol to every port', () => {
    expect(buildService({ ...base, ports: ['80', '81'], targetPort: 'http', protocol: 'UDP' }).spec.ports!.map((p) => [p.targetPort, p.protocol])).toEqual([
      ['http', 'UDP'],
      ['http', 'UDP'],
    ]);
    expect(buildService({ ...base, ports: ['80'], targetPort: '8080' }).spec.ports![0]!.targetPort).toBe(8080);
  });

  it('type, cluster IP, affinity and labels are set only when given; a bad port or affinity is refused as kubectl words it', () => {
    const svc = buildService({ ...base, ports: ['80'], type: 'NodePort', clusterIP: 'None', sessionAffinity: 'ClientIP', labels: { a: 'b' } });
    expect(svc.spec).toMatchObject({ type: 'NodePort', clusterIP: 'None', sessionAffinity: 'ClientIP' });
    expect(svc.metadata.labels).toEqual({ a: 'b' });
    expect(Object.keys(buildService({ ...base, ports: ['80'] }).spec)).toEqual(['ports', 'selector']);
    expect(() => buildService({ ...base, ports: ['http'] })).toThrow('strconv.Atoi: parsing "http": invalid syntax');
    expect(() => buildService({ ...base, ports: ['80'], sessionAffinity: 'Sticky' })).toThrow('unknown session affinity: Sticky');
  });
});

describe('an Invalid Service with several causes', () => {
  it('is printed one cause a line, as kubectl prints `expose --port 70000`', () => {
    const e = ApiStatusError.fromResponse(
      422,
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        reason: 'Invalid',
        code: 422,
        message: 'Service "web" is invalid: [spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive]',
        details: {
          name: 'web',
          kind: 'Service',
          causes: [
            { reason: 'FieldValueInvalid', message: 'Invalid value: 70000: must be between 1 and 65535, inclusive', field: 'spec.ports[0].port' },
            { reason: 'FieldValueInvalid', message: 'Invalid value: 70000: must be between 1 and 65535, inclusive', field: 'spec.ports[0].targetPort' },
          ],
        },
      }),
    );
    expect(formatError(e)).toBe(
      'The Service "web" is invalid: \n* spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n* spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    );
  });
});
