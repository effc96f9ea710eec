// The Service, EndpointSlice and Endpoints kinds: kube-apiserver's defaults,
// validation wording (field paths and messages verbatim), the update strategy,
// and kubectl's columns. The kinds are not in the server's registry yet (the
// ClusterIP allocator comes first), so this suite registers them in its own
// KindRegistry and runs an object through them in the API server's order:
// defaults, the strategy's prepareForCreate/Update, then metadata and kind
// validation (as api/validation.ts's validateObject does for registered kinds).
import { describe, expect, it } from 'vitest';
import { InvalidError, KindRegistry, columnHeader, deepClone, invalidError, FieldErrors, type KindDescriptor } from '../../api/index.js';
import { validateMetadata, validateMetadataUpdate } from '../../api/validation-core.js';
import { UNSUPPORTED_SERVICE_SPEC_FIELDS, serviceKind } from '../../api/kinds/service.js';
import { LABEL_SERVICE_NAME, endpointSliceKind } from '../../api/kinds/endpointslice.js';
import { endpointsKind } from '../../api/kinds/endpoints.js';

type Obj = Record<string, any>;

const registry = new KindRegistry().register(serviceKind).register(endpointsKind).addGroupVersion('discovery.k8s.io', 'v1').register(endpointSliceKind);
const T0 = Date.UTC(2026, 0, 1);
const CREATED = new Date(T0 - 90_000).toISOString(); // 90s old

function kindOf(o: Obj): KindDescriptor {
  const d = registry.forKind(o.apiVersion, o.kind);
  if (!d) throw new Error(`no kind ${o.apiVersion}/${o.kind}`);
  return d;
}

/** The object as the API server would store it (create, or update of `old`), or the InvalidError it answers. */
function admit(body: Obj, old?: Obj): { obj: Obj; error: string } {
  const d = kindOf(body);
  const o = deepClone(body);
  o.metadata ??= {};
  o.metadata.namespace ??= 'default';
  d.defaults?.(o);
  if (old) {
    if (d.subresources.includes('status')) o.status = deepClone(old.status);
    d.strategy.prepareForUpdate?.(o, old);
  } else {
    d.strategy.prepareForCreate?.(o);
  }
  const e = new FieldErrors();
  const md = validateMetadata(e, o, d, d.nameRule);
  d.validate(e, o, md);
  if (old) {
    validateMetadataUpdate(e, md, old.metadata);
    d.validateUpdate?.(e, o, old);
  }
  if (e.causes.length === 0) return { obj: o, error: '' };
  const err = invalidError(d.kind, String(o.metadata.name ?? ''), e.causes, d.group);
  expect(err).toBeInstanceOf(InvalidError);
  return { obj: o, error: err.message };
}

const stored = (body: Obj): Obj => {
  const r = admit(body);
  expect(r.error).toBe('');
  return r.obj;
};

function svc(spec: Obj = {}, name = 'web'): Obj {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'demo' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec } };
}

function slice(mutate: (s: Obj) => void = () => {}): Obj {
  const s: Obj = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-abc12', namespace: 'demo', labels: { [LABEL_SERVICE_NAME]: 'web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-1' }],
    ports: [{ name: 'http', port: 80 }],
  };
  mutate(s);
  return s;
}

function endpoints(mutate: (s: Obj) => void = () => {}): Obj {
  const ep: Obj = {
    apiVersion: 'v1',
    kind: 'Endpoints',
    metadata: { name: 'web', namespace: 'demo' },
    subsets: [{ addresses: [{ ip: '10.244.1.5', nodeName: 'node-1' }], ports: [{ port: 80 }] }],
  };
  mutate(ep);
  return ep;
}

describe('[services] the kinds as registered', () => {
  it('are found by the words kubectl users type, in their group versions', () => {
    expect(registry.lookup('svc')).toBe(serviceKind);
    expect(registry.lookup('services')).toBe(serviceKind);
    expect(registry.lookup('ep')).toBe(endpointsKind);
    expect(registry.lookup('endpoints')).toBe(endpointsKind);
    expect(registry.lookup('endpointslices')).toBe(endpointSliceKind);
    expect(registry.lookup('endpointslices.discovery.k8s.io')).toBe(endpointSliceKind);
    expect(serviceKind).toMatchObject({ apiVersion: 'v1', namespaced: true, subresources: ['status'], categories: ['all'], listKind: 'ServiceList' });
    expect(endpointsKind).toMatchObject({ apiVersion: 'v1', singular: 'endpoints', listKind: 'EndpointsList', namespaced: true });
    expect(endpointSliceKind).toMatchObject({ apiVersion: 'discovery.k8s.io/v1', singular: 'endpointslice', namespaced: true, shortNames: [] });
  });

  it('Services are field-selectable by spec.clusterIP and spec.type, as kube-apiserver serves them', () => {
    const s = stored(svc({ clusterIP: 'None' }));
    expect(Object.keys(serviceKind.fieldLabels).sort()).toEqual(['spec.clusterIP', 'spec.type']);
    expect(serviceKind.fieldLabels['spec.clusterIP']!(s)).toBe('None');
    expect(serviceKind.fieldLabels['spec.type']!(s)).toBe('ClusterIP');
    expect(serviceKind.fieldLabels['spec.clusterIP']!(stored(svc()))).toBe('');
  });
});

describe('[services] Service defaults (SetDefaults_Service) and the create strategy', () => {
  it('a ClusterIP Service: type, sessionAffinity None, TCP, targetPort = port, internalTrafficPolicy Cluster; status reset', () => {
    const s = stored({ ...svc(), status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } });
    expect(s.spec).toEqual({
      selector: { app: 'web' },
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
      type: 'ClusterIP',
      sessionAffinity: 'None',
      internalTrafficPolicy: 'Cluster',
    });
    expect(s.status).toEqual({ loadBalancer: {} });
  });

  it('a named targetPort and a protocol are kept; targetPort 0 or "" means the port', () => {
    const s = stored(
      svc({
        ports: [
          { name: 'http', port: 80, targetPort: 'web' },
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 0 },
          { name: 'alt', port: 8080, targetPort: '' },
        ],
      }),
    );
    expect(s.spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' },
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
      { name: 'alt', port: 8080, targetPort: 8080, protocol: 'TCP' },
    ]);
  });

  it('ClientIP affinity gets a 10800 s timeout unless one is given; None drops any affinity config', () => {
    expect(stored(svc({ sessionAffinity: 'ClientIP' })).spec.sessionAffinityConfig).toEqual({ clientIP: { timeoutSeconds: 10800 } });
    expect(stored(svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: {} } })).spec.sessionAffinityConfig).toEqual({ clientIP: { timeoutSeconds: 10800 } });
    expect(stored(svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })).spec.sessionAffinityConfig).toEqual({ clientIP: { timeoutSeconds: 60 } });
    expect(stored(svc({ sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } })).spec.sessionAffinityConfig).toBeUndefined();
  });

  it('NodePort gets externalTrafficPolicy Cluster; LoadBalancer also allocateLoadBalancerNodePorts true', () => {
    const np = stored(svc({ type: 'NodePort' })).spec;
    expect(np).toMatchObject({ externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster' });
    expect(np.allocateLoadBalancerNodePorts).toBeUndefined();
    expect(stored(svc({ type: 'LoadBalancer' })).spec).toMatchObject({ externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster', allocateLoadBalancerNodePorts: true });
    expect(stored(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', allocateLoadBalancerNodePorts: false })).spec).toMatchObject({
      externalTrafficPolicy: 'Local',
      allocateLoadBalancerNodePorts: false,
    });
  });

  it('ExternalName gets no traffic policies; clusterIP and clusterIPs are kept in step; ipFamilies are left to the allocator', () => {
    const en = stored(svc({ type: 'ExternalName', externalName: 'db.example.com', selector: undefined })).spec;
    expect(en.internalTrafficPolicy).toBeUndefined();
    expect(en.externalTrafficPolicy).toBeUndefined();
    const fixed = stored(svc({ clusterIP: '10.96.0.10' })).spec;
    expect(fixed.clusterIPs).toEqual(['10.96.0.10']);
    expect(fixed.ipFamilies).toBeUndefined();
    expect(fixed.ipFamilyPolicy).toBeUndefined();
    expect(stored(svc({ clusterIP: 'None' })).spec.clusterIPs).toEqual(['None']);
    expect(stored(svc()).spec.clusterIPs).toBeUndefined();
  });

  it('a Service without a spec is defaulted and then asked for its ports', () => {
    expect(admit({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } }).error).toBe('Service "web" is invalid: spec.ports: Required value');
  });
});

describe('[services] Service validation (kube-apiserver wording)', () => {
  const I = 'Service "web" is invalid: ';
  const cases: [string, Obj, string][] = [
    ['a ClusterIP Service', svc(), ''],
    ['a headless Service without ports', svc({ clusterIP: 'None', ports: [] }), ''],
    ['an ExternalName Service with a trailing dot', svc({ type: 'ExternalName', externalName: 'db.example.com.', ports: [] }), ''],
    ['a LoadBalancer (served as NodePort)', svc({ type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080 }] }), ''],
    ['a NodePort Service with Local traffic', svc({ type: 'NodePort', externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local' }), ''],
    ['the same port on TCP and UDP', svc({ ports: [{ name: 'dns-tcp', port: 53 }, { name: 'dns', port: 53, protocol: 'UDP' }] }), ''],
    ['ClientIP affinity of a day', svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86400 } } }), ''],
    ['PreferDualStack falls back to one family', svc({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4'] }), ''],
    ['a headless Service without a selector may name any family', svc({ clusterIP: 'None', selector: undefined, ipFamilies: ['IPv6'] }), ''],
    ['publishNotReadyAddresses', svc({ publishNotReadyAddresses: true }), ''],
    [
      'a name with a leading digit (DNS-1035)',
      svc({}, '1web'),
      `Service "1web" is invalid: metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`,
    ],
    ['no ports', svc({ ports: [] }), `${I}spec.ports: Required value`],
    ['an unnamed port among two', svc({ ports: [{ name: 'http', port: 80 }, { port: 443 }] }), `${I}spec.ports[1].name: Required value`],
    ['duplicate port names', svc({ ports: [{ name: 'http', port: 80 }, { name: 'http', port: 8080 }] }), `${I}spec.ports[1].name: Duplicate value: "http"`],
    [
      'a port name that is not a DNS-1123 label',
      svc({ ports: [{ name: 'Http', port: 80 }] }),
      `${I}spec.ports[0].name: Invalid value: "Http": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    ],
    ['an unknown protocol', svc({ ports: [{ port: 80, protocol: 'HTTP' }] }), `${I}spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"`],
    [
      'port 70000 (and the targetPort defaulted from it)',
      svc({ ports: [{ port: 70000 }] }),
      `${I}[spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive]`,
    ],
    ['port 0', svc({ ports: [{ port: 0, targetPort: 80 }] }), `${I}spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`],
    ['targetPort 70000', svc({ ports: [{ port: 80, targetPort: 70000 }] }), `${I}spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive`],
    ['a targetPort name with two hyphens', svc({ ports: [{ port: 80, targetPort: 'my--port' }] }), `${I}spec.ports[0].targetPort: Invalid value: "my--port": must not contain consecutive hyphens`],
    ['a targetPort name of 16 characters', svc({ ports: [{ port: 80, targetPort: 'abcdefghijklmnop' }] }), `${I}spec.ports[0].targetPort: Invalid value: "abcdefghijklmnop": must be no more than 15 characters`],
    ['a nodePort on a ClusterIP Service', svc({ ports: [{ port: 80, nodePort: 30080 }] }), `${I}spec.ports[0].nodePort: Forbidden: may not be used when \`type\` is 'ClusterIP'`],
    [
      'the same port and protocol twice',
      svc({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80, targetPort: 8080 }] }),
      `${I}spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}`,
    ],
    [
      'the same nodePort twice',
      svc({ type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 30080 }, { name: 'b', port: 81, nodePort: 30080 }] }),
      `${I}spec.ports[1].nodePort: Duplicate value: 30080`,
    ],
    ['an unknown type', svc({ type: 'Ingress' }), `${I}spec.type: Unsupported value: "Ingress": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`],
    ['an unknown session affinity', svc({ sessionAffinity: 'Cookie' }), `${I}spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", "None"`],
    [
      'a ClientIP timeout of 0',
      svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } }),
      `${I}spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400`,
    ],
    [
      'a ClientIP timeout over a day',
      svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 86401 } } }),
      `${I}spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400`,
    ],
    ['ExternalName without externalName', svc({ type: 'ExternalName' }), `${I}spec.externalName: Required value`],
    [
      'a bad externalName',
      svc({ type: 'ExternalName', externalName: 'db_1.example.com' }),
      `${I}spec.externalName: Invalid value: "db_1.example.com": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    ],
    ['ExternalName with a clusterIP', svc({ type: 'ExternalName', externalName: 'db.example.com', clusterIP: '10.96.0.5' }), `${I}spec.clusterIPs: Forbidden: may not be set for ExternalName services`],
    [
      'ExternalName with ipFamilies',
      svc({ type: 'ExternalName', externalName: 'db.example.com', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack' }),
      `${I}[spec.ipFamilies: Forbidden: may not be set for ExternalName services, spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services]`,
    ],
    ['a clusterIP that is no IP', svc({ clusterIP: '10.96.0.300' }), `${I}spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`],
    ['clusterIPs not starting with clusterIP', svc({ clusterIP: '10.96.0.5', clusterIPs: ['10.96.0.6'] }), `${I}spec.clusterIPs: Invalid value: ["10.96.0.6"]: first value must match \`clusterIP\``],
    ['clusterIPs without clusterIP', svc({ clusterIPs: ['10.96.0.6'] }), `${I}spec.clusterIPs: Invalid value: ["10.96.0.6"]: must be empty when \`clusterIP\` is not specified`],
    ['None and an IP', svc({ clusterIP: 'None', clusterIPs: ['None', '10.96.0.6'] }), `${I}spec.clusterIPs: Invalid value: ["None","10.96.0.6"]: 'None' must be the first and only value`],
    ['a headless NodePort', svc({ type: 'NodePort', clusterIP: 'None' }), `${I}spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for NodePort services`],
    ['a headless LoadBalancer', svc({ type: 'LoadBalancer', clusterIP: 'None' }), `${I}spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for LoadBalancer services`],
    ['an IPv6 family', svc({ ipFamilies: ['IPv6'] }), `${I}spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster`],
    ['an IPv6 clusterIP', svc({ clusterIP: 'fd00::10' }), `${I}spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster`],
    ['an unknown family', svc({ ipFamilies: ['IPv5'] }), `${I}spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"`],
    ['a family twice', svc({ ipFamilies: ['IPv4', 'IPv4'] }), `${I}spec.ipFamilies[1]: Duplicate value: "IPv4"`],
    ['RequireDualStack', svc({ ipFamilyPolicy: 'RequireDualStack' }), `${I}spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services`],
    ['an unknown family policy', svc({ ipFamilyPolicy: 'DualStack' }), `${I}spec.ipFamilyPolicy: Unsupported value: "DualStack": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"`],
    [
      'a selector with a bad label key',
      svc({ selector: { '-app': 'web' } }),
      `${I}spec.selector: Invalid value: "-app": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
    ],
    [
      'a selector with a bad label value',
      svc({ selector: { app: 'web!' } }),
      `${I}spec.selector[app]: Invalid value: "web!": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
    ],
    ['externalTrafficPolicy on a ClusterIP Service', svc({ externalTrafficPolicy: 'Local' }), `${I}spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services`],
    ['an unknown externalTrafficPolicy', svc({ type: 'NodePort', externalTrafficPolicy: 'Nearest' }), `${I}spec.externalTrafficPolicy: Unsupported value: "Nearest": supported values: "Cluster", "Local"`],
    ['an unknown internalTrafficPolicy', svc({ internalTrafficPolicy: 'Node' }), `${I}spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster", "Local"`],
    ['allocateLoadBalancerNodePorts on a NodePort', svc({ type: 'NodePort', allocateLoadBalancerNodePorts: true }), `${I}spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when \`type\` is 'LoadBalancer'`],
    ['a ports list that is a string', svc({ ports: 'http' }), `${I}[spec.ports: Invalid value: "string": must be an array, spec.ports: Required value]`],
    ['a port that is a string', svc({ ports: [{ port: '80' }] }), `${I}spec.ports[0].port: Invalid value: "string": must be an integer`],
    [
      'several mistakes at once',
      svc({ type: 'NodePort', ports: [{ port: 80, protocol: 'tcp' }], sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: -1 } } }),
      `${I}[spec.ports[0].protocol: Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP", spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: -1: must be greater than 0 and less than 86400]`,
    ],
  ];
  for (const [what, body, want] of cases) {
    it(`${what}: ${want === '' ? 'accepted' : 'refused'}`, () => {
      expect(admit(body).error).toBe(want);
    });
  }

  it('every field Flotilla does not carry out is refused by name, not dropped', () => {
    const values: Obj = {
      externalIPs: ['192.0.2.10'],
      loadBalancerIP: '192.0.2.11',
      loadBalancerSourceRanges: ['192.0.2.0/24'],
      loadBalancerClass: 'example.com/lb',
      healthCheckNodePort: 30999,
      trafficDistribution: 'PreferClose',
    };
    expect(Object.keys(values).sort()).toEqual([...UNSUPPORTED_SERVICE_SPEC_FIELDS].sort());
    for (const [k, v] of Object.entries(values)) {
      expect(admit(svc({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', [k]: v })).error).toBe(`Service "web" is invalid: spec.${k}: Forbidden: not supported by Flotilla`);
    }
    // the empty values of those fields are what a client sends when it does not use them
    expect(admit(svc({ externalIPs: [], loadBalancerIP: '', healthCheckNodePort: 0 })).error).toBe('');
  });
});

describe('[services] Service updates (the strategy and ValidateServiceUpdate)', () => {
  const allocated = (spec: Obj = {}): Obj => {
    const s = stored(svc(spec));
    s.metadata = { ...s.metadata, uid: '8d3c5b4e-1f2a-4b6c-9d0e-1234567890ab', resourceVersion: '7', creationTimestamp: CREATED };
    // what the allocators fill in after create
    if (s.spec.type !== 'ExternalName' && s.spec.clusterIP === undefined) {
      s.spec.clusterIP = '10.96.0.20';
      s.spec.clusterIPs = ['10.96.0.20'];
    }
    s.spec.ports.forEach((p: Obj, i: number) => {
      if ((s.spec.type === 'NodePort' || s.spec.type === 'LoadBalancer') && !p.nodePort) p.nodePort = 30080 + i;
    });
    return s;
  };
  const next = (old: Obj, mutate: (s: Obj) => void): Obj => {
    const n = deepClone(old);
    mutate(n);
    return n;
  };

  it('the clusterIP may not change once set, in kube-apiserver words', () => {
    const old = allocated();
    const r = admit(
      next(old, (n) => {
        n.spec.clusterIP = '10.96.0.21';
        delete n.spec.clusterIPs;
      }),
      old,
    );
    expect(r.error).toBe('Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.0.21"]: may not change once set');
    const both = admit(
      next(old, (n) => {
        n.spec.clusterIP = '10.96.0.21';
        n.spec.clusterIPs = ['10.96.0.21'];
      }),
      old,
    );
    expect(both.error).toBe('Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.0.21"]: may not change once set');
  });

  it('a replace with the original manifest keeps the allocated clusterIP and nodePorts (by port name) and the status', () => {
    const old = allocated({ type: 'NodePort', ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] });
    old.status = { loadBalancer: {} };
    const body = svc({ type: 'NodePort', ports: [{ name: 'https', port: 443 }, { name: 'http', port: 80 }] });
    body.metadata.resourceVersion = '7';
    const r = admit(body, old);
    expect(r.error).toBe('');
    expect(r.obj.spec.clusterIP).toBe('10.96.0.20');
    expect(r.obj.spec.clusterIPs).toEqual(['10.96.0.20']);
    expect(r.obj.spec.ports.map((p: Obj) => `${p.name}:${p.nodePort}`)).toEqual(['https:30081', 'http:30080']);
    expect(r.obj.status).toEqual({ loadBalancer: {} });
  });

  it('a change to ExternalName releases the clusterIP and nodePorts; back to ClusterIP leaves it to the allocator', () => {
    const old = allocated({ type: 'NodePort' });
    const toName = admit(
      next(old, (n) => {
        n.spec.type = 'ExternalName';
        n.spec.externalName = 'db.example.com';
      }),
      old,
    );
    expect(toName.error).toBe('');
    expect(toName.obj.spec.clusterIP).toBeUndefined();
    expect(toName.obj.spec.clusterIPs).toBeUndefined();
    expect(toName.obj.spec.ports[0].nodePort).toBeUndefined();
    expect(toName.obj.spec.externalTrafficPolicy).toBeUndefined();
    const back = admit(
      next(toName.obj, (n) => {
        n.spec.type = 'ClusterIP';
        delete n.spec.externalName;
      }),
      toName.obj,
    );
    expect(back.error).toBe('');
    expect(back.obj.spec.clusterIP).toBeUndefined();
  });

  it('NodePort to ClusterIP drops the nodePorts and externalTrafficPolicy; LoadBalancer to ClusterIP also its status', () => {
    const old = allocated({ type: 'LoadBalancer' });
    old.status = { loadBalancer: { ingress: [{ ip: '192.168.1.10' }] } };
    const r = admit(next(old, (n) => (n.spec.type = 'ClusterIP')), old);
    expect(r.error).toBe('');
    expect(r.obj.spec.ports[0].nodePort).toBeUndefined();
    expect(r.obj.spec.externalTrafficPolicy).toBeUndefined();
    expect(r.obj.spec.allocateLoadBalancerNodePorts).toBeUndefined();
    expect(r.obj.status).toEqual({ loadBalancer: {} });
    // a nodePort asked for anew is not dropped: validation refuses it
    const asked = admit(
      next(old, (n) => {
        n.spec.type = 'ClusterIP';
        n.spec.ports[0].nodePort = 31000;
      }),
      old,
    );
    expect(asked.error).toBe("Service \"web\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'");
  });

  it('a LoadBalancer keeps its status over a spec update', () => {
    const old = allocated({ type: 'LoadBalancer' });
    old.status = { loadBalancer: { ingress: [{ ip: '192.168.1.10' }] } };
    const r = admit(next(old, (n) => (n.spec.selector = { app: 'web2' })), old);
    expect(r.error).toBe('');
    expect(r.obj.status).toEqual({ loadBalancer: { ingress: [{ ip: '192.168.1.10' }] } });
  });

  it('a headless Service stays headless: None may not become an IP', () => {
    const old = stored(svc({ clusterIP: 'None' }));
    const r = admit(
      next(old, (n) => {
        n.spec.clusterIP = '10.96.0.30';
        n.spec.clusterIPs = ['10.96.0.30'];
      }),
      old,
    );
    expect(r.error).toBe('Service "web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.96.0.30"]: may not change once set');
  });
});

describe('[services] EndpointSlice defaults and validation (kube-apiserver wording)', () => {
  it('ports default to name "" and protocol TCP', () => {
    expect(stored(slice((s) => (s.ports = [{ port: 80 }]))).ports).toEqual([{ name: '', port: 80, protocol: 'TCP' }]);
  });

  const I = 'EndpointSlice.discovery.k8s.io "web-abc12" is invalid: ';
  const addrs = (n: number) => Array.from({ length: n }, (_, i) => `10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const cases: [string, (s: Obj) => void, string][] = [
    ['a valid slice', () => {}, ''],
    ['a slice of a headless Service without ports', (s) => (s.ports = [{}]), ''],
    ['an empty slice (a Service without ready pods)', (s) => (s.endpoints = []), ''],
    ['an FQDN slice', (s) => ((s.addressType = 'FQDN'), (s.endpoints = [{ addresses: ['db.example.com'] }])), ''],
    ['no addressType', (s) => delete s.addressType, `${I}addressType: Required value`],
    ['an unknown addressType', (s) => (s.addressType = 'IP'), `${I}addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"`],
    ['an endpoint without addresses', (s) => (s.endpoints[0].addresses = []), `${I}endpoints[0].addresses: Required value: must contain at least 1 address`],
    ['an endpoint with 101 addresses', (s) => (s.endpoints[0].addresses = addrs(101)), `${I}endpoints[0].addresses: Too many: 101: must have at most 100 items`],
    ['1001 endpoints', (s) => (s.endpoints = addrs(1001).map((a) => ({ addresses: [a] }))), `${I}endpoints: Too many: 1001: must have at most 1000 items`],
    ['an IPv6 address in an IPv4 slice', (s) => (s.endpoints[0].addresses = ['fd00::5']), `${I}endpoints[0].addresses[0]: Invalid value: "fd00::5": must be a valid IPv4 address`],
    ['a loopback address', (s) => (s.endpoints[0].addresses = ['127.0.0.1']), `${I}endpoints[0].addresses[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)`],
    ['a link-local address', (s) => (s.endpoints[0].addresses = ['169.254.169.254']), `${I}endpoints[0].addresses[0]: Invalid value: "169.254.169.254": may not be in the link-local range (169.254.0.0/16, fe80::/10)`],
    ['the unspecified IPv6 address', (s) => ((s.addressType = 'IPv6'), (s.endpoints[0].addresses = ['::'])), `${I}endpoints[0].addresses[0]: Invalid value: "::": may not be unspecified (::)`],
    ['a one-label FQDN', (s) => ((s.addressType = 'FQDN'), (s.endpoints[0].addresses = ['db'])), `${I}endpoints[0].addresses[0]: Invalid value: "db": should be a domain with at least two segments separated by dots`],
    [
      'a hostname that is not a DNS label',
      (s) => (s.endpoints[0].hostname = 'web.1'),
      `${I}endpoints[0].hostname: Invalid value: "web.1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    ],
    ['a condition that is not a boolean', (s) => (s.endpoints[0].conditions.ready = 'yes'), `${I}endpoints[0].conditions.ready: Invalid value: "string": must be a boolean`],
    [
      'a bad nodeName',
      (s) => (s.endpoints[0].nodeName = 'Node_1'),
      `${I}endpoints[0].nodeName: Invalid value: "Node_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    ],
    ['two ports of one name', (s) => (s.ports = [{ name: 'http', port: 80 }, { name: 'http', port: 8080 }]), `${I}ports[1].name: Duplicate value: "http"`],
    ['two unnamed ports', (s) => (s.ports = [{ port: 80 }, { port: 8080 }]), `${I}ports[1].name: Duplicate value: ""`],
    ['an unknown protocol', (s) => (s.ports[0].protocol = 'ICMP'), `${I}ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`],
    ['port 70000', (s) => (s.ports[0].port = 70000), `${I}ports[0].port: Invalid value: 70000: must be between 0 and 65535, inclusive`],
    [
      'an appProtocol that is not a qualified name',
      (s) => (s.ports[0].appProtocol = 'h2c/x/y'),
      `${I}ports[0].appProtocol: Invalid value: "h2c/x/y": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ],
  ];
  for (const [what, mutate, want] of cases) {
    it(`${what}: ${want === '' ? 'accepted' : 'refused'}`, () => {
      expect(admit(slice(mutate)).error).toBe(want);
    });
  }

  it('addressType is immutable', () => {
    const old = stored(slice());
    const n = deepClone(old);
    n.addressType = 'IPv6';
    n.endpoints[0].addresses = ['fd00::5'];
    expect(admit(n, old).error).toBe(`${I}addressType: Invalid value: "IPv6": field is immutable`);
  });
});

describe('[services] Endpoints defaults and validation (kube-apiserver wording)', () => {
  it('ports default to protocol TCP', () => {
    expect(stored(endpoints()).subsets[0].ports).toEqual([{ port: 80, protocol: 'TCP' }]);
  });

  const I = 'Endpoints "web" is invalid: ';
  const cases: [string, (s: Obj) => void, string][] = [
    ['valid Endpoints', () => {}, ''],
    ['no subsets (a Service without backends)', (ep) => delete ep.subsets, ''],
    ['a headless subset without ports', (ep) => delete ep.subsets[0].ports, ''],
    ['only not-ready addresses', (ep) => (ep.subsets[0] = { notReadyAddresses: [{ ip: '10.244.2.7' }], ports: [{ port: 80 }] }), ''],
    ['a subset without addresses', (ep) => delete ep.subsets[0].addresses, `${I}subsets[0]: Required value: must specify \`addresses\` or \`notReadyAddresses\``],
    ['an IP that is no IP', (ep) => (ep.subsets[0].addresses[0].ip = '10.244.1.300'), `${I}subsets[0].addresses[0].ip: Invalid value: "10.244.1.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`],
    ['an address without an IP', (ep) => delete ep.subsets[0].addresses[0].ip, `${I}subsets[0].addresses[0].ip: Invalid value: "": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`],
    ['a loopback not-ready address', (ep) => (ep.subsets[0].notReadyAddresses = [{ ip: '127.0.0.2' }]), `${I}subsets[0].notReadyAddresses[0].ip: Invalid value: "127.0.0.2": may not be in the loopback range (127.0.0.0/8, ::1/128)`],
    ['the unspecified address', (ep) => (ep.subsets[0].addresses[0].ip = '0.0.0.0'), `${I}subsets[0].addresses[0].ip: Invalid value: "0.0.0.0": may not be unspecified (0.0.0.0)`],
    ['two unnamed ports', (ep) => (ep.subsets[0].ports = [{ port: 80 }, { port: 443 }]), `${I}[subsets[0].ports[0].name: Required value, subsets[0].ports[1].name: Required value]`],
    ['port 0', (ep) => (ep.subsets[0].ports[0].port = 0), `${I}subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive`],
    ['an unknown protocol', (ep) => (ep.subsets[0].ports[0].protocol = 'QUIC'), `${I}subsets[0].ports[0].protocol: Unsupported value: "QUIC": supported values: "SCTP", "TCP", "UDP"`],
    [
      'a hostname that is not a DNS label',
      (ep) => (ep.subsets[0].addresses[0].hostname = 'Web'),
      `${I}subsets[0].addresses[0].hostname: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
    ],
  ];
  for (const [what, mutate, want] of cases) {
    it(`${what}: ${want === '' ? 'accepted' : 'refused'}`, () => {
      expect(admit(endpoints(mutate)).error).toBe(want);
    });
  }
});

// The cells are compared with what kubectl 1.33 prints: kube-apiserver's
// printers (pkg/printers/internalversion: printService, printEndpointSlice,
// printEndpoints) generate the Table server-side, kubectl prints it.
describe('[services] printer columns as kubectl shows them', () => {
  const row = (d: KindDescriptor, o: Obj) => d.printer.cells({ ...o, metadata: { ...o.metadata, creationTimestamp: CREATED } }, T0);
  const headers = (d: KindDescriptor, wide: boolean) => d.printer.columns.filter((c) => wide || c.priority === 0).map(columnHeader);

  it('Service: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE, wide SELECTOR', () => {
    expect(headers(serviceKind, false)).toEqual(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
    expect(headers(serviceKind, true)).toEqual(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR']);
  });

  it('Service cells for each type', () => {
    const ip = (o: Obj, clusterIP: string) => ({ ...o, spec: { ...o.spec, clusterIP, clusterIPs: [clusterIP] } });
    expect(row(serviceKind, ip(stored(svc({ selector: { tier: 'fe', app: 'web' } })), '10.96.0.20'))).toEqual(['web', 'ClusterIP', '10.96.0.20', '<none>', '80/TCP', '90s', 'app=web,tier=fe']);
    expect(
      row(
        serviceKind,
        ip(stored(svc({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }, { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }] })), '10.96.0.21'),
      ),
    ).toEqual(['web', 'NodePort', '10.96.0.21', '<none>', '80:30080/TCP,53:30053/UDP', '90s', 'app=web']);
    expect(row(serviceKind, stored(svc({ clusterIP: 'None', selector: undefined, ports: [] })))).toEqual(['web', 'ClusterIP', 'None', '<none>', '<none>', '90s', '<none>']);
    expect(row(serviceKind, stored(svc({ type: 'ExternalName', externalName: 'db.example.com', selector: undefined, ports: [] })))).toEqual([
      'web',
      'ExternalName',
      '<none>',
      'db.example.com',
      '<none>',
      '90s',
      '<none>',
    ]);
    const lb = ip(stored(svc({ type: 'LoadBalancer', ports: [{ port: 443, nodePort: 30443 }] })), '10.96.0.22');
    expect(row(serviceKind, lb)).toEqual(['web', 'LoadBalancer', '10.96.0.22', '<pending>', '443:30443/TCP', '90s', 'app=web']);
    // the node IPs in status, sorted and without repeats, as kubectl's loadBalancerStatusStringer
    const withIngress = { ...lb, status: { loadBalancer: { ingress: [{ ip: '192.168.1.12' }, { ip: '192.168.1.10' }, { ip: '192.168.1.12' }] } } };
    expect(row(serviceKind, withIngress)[3]).toBe('192.168.1.10,192.168.1.12');
  });

  it('EndpointSlice: NAME ADDRESSTYPE PORTS ENDPOINTS AGE', () => {
    expect(headers(endpointSliceKind, true)).toEqual(['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
    const five = slice((s) => {
      s.ports = [{ name: 'http', port: 80 }, { name: 'https', port: 443 }];
      s.endpoints = ['10.244.1.5', '10.244.2.6', '10.244.3.7', '10.244.1.8', '10.244.2.9'].map((a) => ({ addresses: [a] }));
    });
    expect(row(endpointSliceKind, five)).toEqual(['web-abc12', 'IPv4', '80,443', '10.244.1.5,10.244.2.6,10.244.3.7 + 2 more...', '90s']);
    const many = slice((s) => (s.ports = [80, 81, 82, 83].map((port, i) => ({ name: `p${i}`, port }))));
    expect(row(endpointSliceKind, many)[2]).toBe('80,81,82 + 1 more...');
    expect(row(endpointSliceKind, slice((s) => ((s.ports = []), (s.endpoints = []))))).toEqual(['web-abc12', 'IPv4', '<unset>', '<unset>', '90s']);
  });

  it('Endpoints: NAME ENDPOINTS AGE', () => {
    expect(headers(endpointsKind, true)).toEqual(['NAME', 'ENDPOINTS', 'AGE']);
    const five = endpoints((ep) => (ep.subsets = [{ addresses: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'].map((ip) => ({ ip })), ports: [{ port: 80 }] }]));
    expect(row(endpointsKind, five)).toEqual(['web', '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...', '90s']);
    // two ports: each address once per port; not-ready addresses are not shown
    const twoPorts = endpoints((ep) => (ep.subsets = [{ addresses: [{ ip: '10.0.0.1' }], notReadyAddresses: [{ ip: '10.0.0.9' }], ports: [{ name: 'a', port: 80 }, { name: 'b', port: 443 }] }]));
    expect(row(endpointsKind, twoPorts)[1]).toBe('10.0.0.1:80,10.0.0.1:443');
    expect(row(endpointsKind, endpoints((ep) => (ep.subsets = [{ addresses: [{ ip: '10.0.0.1' }, { ip: 'fd00::1' }] }])))[1]).toBe('10.0.0.1,fd00::1');
    expect(row(endpointsKind, endpoints((ep) => (ep.subsets[0].addresses = [{ ip: 'fd00::1' }])))[1]).toBe('[fd00::1]:80');
    expect(row(endpointsKind, endpoints((ep) => delete ep.subsets))[1]).toBe('<none>');
  });
});
