// The node's name server without sockets: the cluster zone's answers from a
// MemoryServiceCatalog, the wire edge (bad input, truncation, EDNS0), the
// forward cache's lifetimes, the metrics, a seeded fuzz, and the pod
// resolv.conf rules with the dnsConfig validation.
import { describe, expect, it } from 'vitest';
import packet from 'dns-packet';
import type { Answer, DecodedPacket, RecordType } from 'dns-packet';
import { assertValid, InvalidError, type EndpointSlice, type Pod, type Service } from '../../api/index.js';
import { MetricsRegistry } from '../../api/metrics.js';
import { MemoryServiceCatalog } from '../../node-agent/services/catalog.js';
import { AnswerCache, cacheLifetime, ClusterZone, DnsMetrics, DnsServer, ensureDnsInterface, formatResolvConf, parseResolvConf, removeDnsInterface, upstreamsFrom } from '../../node-agent/dns/index.js';
import { podResolvConf, podResolvConfText } from '../../node-agent/sandbox/resolv-conf.js';

// ---------------------------------------------------------------- fixtures

function svc(name: string, namespace: string, spec: Service['spec']): Service {
  const s: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { type: 'ClusterIP', ...spec } };
  if (s.spec.clusterIP && !s.spec.clusterIPs) s.spec.clusterIPs = [s.spec.clusterIP];
  return s;
}

interface Ep {
  ip: string;
  ready?: boolean;
  hostname?: string;
}

function slice(service: string, namespace: string, eps: Ep[], ports: { name: string; port: number; protocol?: 'TCP' | 'UDP' }[], suffix = 'a'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${service}-${suffix}`, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: eps.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true }, ...(e.hostname ? { hostname: e.hostname } : {}) })),
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

function demoCatalog(): MemoryServiceCatalog {
  const c = new MemoryServiceCatalog();
  c.replace(
    [
      svc('web', 'demo', { clusterIP: '10.96.0.20', ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
      svc('db', 'demo', { clusterIP: 'None', clusterIPs: ['None'], ports: [{ name: 'pg', port: 5432, protocol: 'TCP' }] }),
      svc('all', 'demo', { clusterIP: 'None', clusterIPs: ['None'], publishNotReadyAddresses: true, ports: [{ name: 'pg', port: 5432 }] }),
      svc('ext', 'demo', { type: 'ExternalName', externalName: 'db.example.org' }),
      svc('kubernetes', 'default', { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443 }] }),
    ],
    [
      slice('db', 'demo', [{ ip: '10.244.1.5', hostname: 'db-0' }, { ip: '10.244.2.7', hostname: 'db-1' }, { ip: '10.244.3.9', ready: false, hostname: 'db-2' }], [{ name: 'pg', port: 5432 }]),
      slice('all', 'demo', [{ ip: '10.244.1.6' }, { ip: '10.244.2.8', ready: false }], [{ name: 'pg', port: 5432 }]),
      // the web Service's endpoints: not in its A answer (a ClusterIP answers with its cluster IP)
      slice('web', 'demo', [{ ip: '10.244.1.10' }], [{ name: 'http', port: 8080 }]),
    ],
  );
  return c;
}

const data = (answers: Answer[]) => answers.map((a) => ('data' in a ? a.data : undefined));

// ---------------------------------------------------------------- the zone

describe('[dns] the cluster zone answers from the service catalog', () => {
  const zone = new ClusterZone(demoCatalog());
  const ask = (name: string, type: RecordType) => zone.answer(name, type);

  it('a ClusterIP Service: A is its cluster IP with TTL 5; AAAA is NODATA with the SOA in authority', () => {
    const a = ask('web.demo.svc.cluster.local', 'A')!;
    expect(a.rcode).toBe('NOERROR');
    expect(a.answers).toEqual([{ name: 'web.demo.svc.cluster.local', type: 'A', ttl: 5, data: '10.96.0.20' }]);
    const aaaa = ask('web.demo.svc.cluster.local.', 'AAAA')!;
    expect(aaaa).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(aaaa.authorities).toEqual([expect.objectContaining({ type: 'SOA', name: 'cluster.local', data: expect.objectContaining({ mname: 'ns.dns.cluster.local', minimum: 5 }) })]);
  });

  it('names are matched without regard to case, and the answer keeps the case asked', () => {
    expect(ask('WEB.Demo.SVC.cluster.LOCAL', 'A')!.answers).toEqual([expect.objectContaining({ name: 'WEB.Demo.SVC.cluster.LOCAL', data: '10.96.0.20' })]);
  });

  it('SRV _port._proto for named ports points at the Service name, with its A as additional', () => {
    const tcp = ask('_http._tcp.web.demo.svc.cluster.local', 'SRV')!;
    expect(tcp.answers).toEqual([{ name: '_http._tcp.web.demo.svc.cluster.local', type: 'SRV', ttl: 5, data: { priority: 0, weight: 100, port: 80, target: 'web.demo.svc.cluster.local' } }]);
    expect(data(tcp.additionals)).toEqual(['10.96.0.20']);
    expect(ask('_dns._udp.web.demo.svc.cluster.local', 'SRV')!.answers[0]).toMatchObject({ data: { port: 53 } });
    // the wrong protocol, or a port the Service does not have: no such name
    expect(ask('_http._udp.web.demo.svc.cluster.local', 'SRV')!.rcode).toBe('NXDOMAIN');
    expect(ask('_nope._tcp.web.demo.svc.cluster.local', 'SRV')!.rcode).toBe('NXDOMAIN');
    // the name exists, A does not
    expect(ask('_http._tcp.web.demo.svc.cluster.local', 'A')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    // SRV at the Service name: every port
    expect(ask('web.demo.svc.cluster.local', 'SRV')!.answers.map((a) => (a.type === 'SRV' ? a.data.port : 0))).toEqual([80, 53]);
  });

  it('a headless Service: A is every ready endpoint; publishNotReadyAddresses adds the unready', () => {
    expect(data(ask('db.demo.svc.cluster.local', 'A')!.answers)).toEqual(['10.244.1.5', '10.244.2.7']);
    expect(data(ask('all.demo.svc.cluster.local', 'A')!.answers)).toEqual(['10.244.1.6', '10.244.2.8']);
  });

  it('a headless endpoint with a hostname has its own name; one without is named by its dashed address', () => {
    expect(data(ask('db-1.db.demo.svc.cluster.local', 'A')!.answers)).toEqual(['10.244.2.7']);
    expect(data(ask('10-244-1-6.all.demo.svc.cluster.local', 'A')!.answers)).toEqual(['10.244.1.6']);
    expect(ask('db-1.db.demo.svc.cluster.local', 'AAAA')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    // an unready endpoint of a Service that does not publish them has no name
    expect(ask('db-2.db.demo.svc.cluster.local', 'A')!.rcode).toBe('NXDOMAIN');
    // a ClusterIP Service's endpoints are not named
    expect(ask('10-244-1-10.web.demo.svc.cluster.local', 'A')!.rcode).toBe('NXDOMAIN');
  });

  it('headless SRV targets are the endpoints\' names, each with its A as additional (as CoreDNS)', () => {
    const srv = ask('_pg._tcp.db.demo.svc.cluster.local', 'SRV')!;
    expect(srv.answers.map((a) => (a.type === 'SRV' ? `${a.data.target}:${a.data.port}` : ''))).toEqual(['db-0.db.demo.svc.cluster.local:5432', 'db-1.db.demo.svc.cluster.local:5432']);
    expect(srv.additionals.map((a) => `${a.name} ${String(data([a])[0])}`)).toEqual(['db-0.db.demo.svc.cluster.local 10.244.1.5', 'db-1.db.demo.svc.cluster.local 10.244.2.7']);
  });

  it('an ExternalName Service answers with its CNAME', () => {
    expect(ask('ext.demo.svc.cluster.local', 'A')!.answers).toEqual([{ name: 'ext.demo.svc.cluster.local', type: 'CNAME', ttl: 5, data: 'db.example.org' }]);
  });

  it('PTR for cluster IPs and headless endpoint IPs; other reverse names are not the zone\'s (forwarded)', () => {
    expect(data(ask('20.0.96.10.in-addr.arpa', 'PTR')!.answers)).toEqual(['web.demo.svc.cluster.local']);
    expect(data(ask('5.1.244.10.in-addr.arpa', 'PTR')!.answers)).toEqual(['db-0.db.demo.svc.cluster.local']);
    expect(data(ask('6.1.244.10.in-addr.arpa', 'PTR')!.answers)).toEqual(['10-244-1-6.all.demo.svc.cluster.local']);
    expect(ask('20.0.96.10.in-addr.arpa', 'A')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(ask('1.1.168.192.in-addr.arpa', 'PTR')).toBeUndefined();
    expect(ask('96.10.in-addr.arpa', 'PTR')).toBeUndefined();
  });

  it('pod names a-b-c-d.<ns>.pod answer any well-formed address (pods insecure)', () => {
    expect(data(ask('10-244-1-5.demo.pod.cluster.local', 'A')!.answers)).toEqual(['10.244.1.5']);
    expect(ask('10-244-1-5.demo.pod.cluster.local', 'AAAA')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(ask('10-244-1.demo.pod.cluster.local', 'A')!.rcode).toBe('NXDOMAIN');
    expect(ask('999-1-1-1.demo.pod.cluster.local', 'A')!.rcode).toBe('NXDOMAIN');
  });

  it('NXDOMAIN for names that do not exist, NODATA for names that do (the zone, svc, a namespace with Services)', () => {
    for (const n of ['nope.demo.svc.cluster.local', 'web.nope.svc.cluster.local', 'nope.svc.cluster.local', 'x.y.z.web.demo.svc.cluster.local', 'what.cluster.local']) {
      const a = ask(n, 'A')!;
      expect({ n, rcode: a.rcode, answers: a.answers.length, soa: a.authorities[0]?.type }).toEqual({ n, rcode: 'NXDOMAIN', answers: 0, soa: 'SOA' });
    }
    for (const n of ['cluster.local', 'svc.cluster.local', 'demo.svc.cluster.local']) expect(ask(n, 'A')).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(ask('cluster.local', 'SOA')!.answers[0]).toMatchObject({ type: 'SOA' });
  });

  it('the search path as a ClusterFirst pod in demo walks it (ndots:5): the expanded names fail, the right one answers', () => {
    // `web.demo` from a pod: tried as web.demo.demo.svc.cluster.local, web.demo.svc.cluster.local, …
    expect(ask('web.demo.demo.svc.cluster.local', 'A')!.rcode).toBe('NXDOMAIN');
    expect(data(ask('web.demo.svc.cluster.local', 'A')!.answers)).toEqual(['10.96.0.20']);
    // `example.com` from a pod: every search-expanded form is NXDOMAIN, the bare name is not the zone's
    for (const n of ['example.com.demo.svc.cluster.local', 'example.com.svc.cluster.local', 'example.com.cluster.local']) expect(ask(n, 'A')!.rcode).toBe('NXDOMAIN');
    expect(ask('example.com', 'A')).toBeUndefined();
    expect(ask('web.demo', 'A')).toBeUndefined();
  });

  it('an object in the catalog that is not a whole Service (the ServicesConfig stored under the services prefix) costs nothing else', () => {
    const c = demoCatalog();
    c.upsertService({ apiVersion: 'flotilla.io/v1', kind: 'ServicesConfig', metadata: { name: 'config' }, config: { serviceCIDR: '10.96.0.0/16' } } as unknown as Service);
    c.upsertSlice({ metadata: { name: 'junk', namespace: 'demo', labels: { 'kubernetes.io/service-name': 'db' } }, addressType: 'IPv4', endpoints: [null, { addresses: 'x' }] } as unknown as EndpointSlice);
    const z = new ClusterZone(c);
    expect(data(z.answer('web.demo.svc.cluster.local', 'A')!.answers)).toEqual(['10.96.0.20']);
    expect(data(z.answer('db.demo.svc.cluster.local', 'A')!.answers)).toEqual(['10.244.1.5', '10.244.2.7']);
    z.close();
  });

  it('another cluster domain is honoured, and a catalog change is answered on the next query', () => {
    const c = demoCatalog();
    const z = new ClusterZone(c, { domain: 'corp.internal' });
    expect(z.answer('web.demo.svc.cluster.local', 'A')).toBeUndefined();
    expect(data(z.answer('web.demo.svc.corp.internal', 'A')!.answers)).toEqual(['10.96.0.20']);
    const gen = z.generation;
    c.upsertSlice(slice('db', 'demo', [{ ip: '10.244.9.9', hostname: 'db-0' }], [{ name: 'pg', port: 5432 }]));
    expect(z.generation).toBeGreaterThan(gen);
    expect(data(z.answer('db.demo.svc.corp.internal', 'A')!.answers)).toEqual(['10.244.9.9']);
    c.deleteService('demo', 'web');
    expect(z.answer('web.demo.svc.corp.internal', 'A')!.rcode).toBe('NXDOMAIN');
    z.close();
  });
});

// ---------------------------------------------------------------- the wire

function query(name: string, type: RecordType, o: { id?: number; edns?: number; cls?: 'IN' | 'CH' } = {}): Buffer {
  return packet.encode({
    type: 'query',
    id: o.id ?? 4242,
    flags: packet.RECURSION_DESIRED,
    questions: [{ name, type, class: o.cls ?? 'IN' }],
    ...(o.edns !== undefined ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: o.edns, flags: 0, options: [] } as unknown as Answer] } : {}),
  });
}

function serverOn(catalog = demoCatalog(), registry?: MetricsRegistry): DnsServer {
  return new DnsServer({ zone: new ClusterZone(catalog), ...(registry ? { metrics: new DnsMetrics(registry) } : {}) });
}

function answerOf(s: DnsServer, q: Buffer, proto: 'udp' | 'tcp' = 'udp'): Buffer | undefined {
  const out = s.handle(q, proto);
  if (out instanceof Promise) throw new Error('expected a synchronous answer');
  return out;
}

const rcodeOf = (b: Buffer) => b.readUInt16BE(2) & 0xf;
const decode = (b: Buffer): DecodedPacket & { rcode?: string } => packet.decode(b) as DecodedPacket & { rcode?: string };

function header(o: { id?: number; flags?: number; qd?: number; an?: number; ns?: number; ar?: number }): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(o.id ?? 7, 0);
  h.writeUInt16BE(o.flags ?? 0x0100, 2);
  h.writeUInt16BE(o.qd ?? 1, 4);
  h.writeUInt16BE(o.an ?? 0, 6);
  h.writeUInt16BE(o.ns ?? 0, 8);
  h.writeUInt16BE(o.ar ?? 0, 10);
  return h;
}

function rawName(labels: string[]): Buffer {
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

const typeClass = (t = 1, c = 1) => Buffer.from([t >> 8, t & 0xff, c >> 8, c & 0xff]);

describe('[dns] the server at the wire', () => {
  it('answers a cluster name authoritatively, with the client\'s ID, RD echoed and RA set', () => {
    const s = serverOn();
    const out = decode(answerOf(s, query('web.demo.svc.cluster.local', 'A', { id: 999 }))!);
    expect(out).toMatchObject({ id: 999, type: 'response', flag_aa: true, flag_rd: true, flag_ra: true, rcode: 'NOERROR' });
    expect(out.questions).toEqual([{ name: 'web.demo.svc.cluster.local', type: 'A', class: 'IN' }]);
    expect(out.answers).toEqual([expect.objectContaining({ type: 'A', ttl: 5, data: '10.96.0.20' })]);
    // the second ask comes from the answer cache: same answer, its own ID and the question as typed
    const again = decode(answerOf(s, query('WEB.demo.svc.cluster.local', 'A', { id: 1000 }))!);
    expect(again).toMatchObject({ id: 1000, rcode: 'NOERROR', questions: [{ name: 'WEB.demo.svc.cluster.local', type: 'A', class: 'IN' }] });
    expect(data(again.answers!)).toEqual(['10.96.0.20']);
  });

  it('NXDOMAIN and NODATA reach the wire with the SOA in authority', () => {
    const s = serverOn();
    const nx = decode(answerOf(s, query('nope.demo.svc.cluster.local', 'A'))!);
    expect(nx).toMatchObject({ rcode: 'NXDOMAIN', answers: [] });
    expect(nx.authorities![0]).toMatchObject({ type: 'SOA', name: 'cluster.local' });
    const nodata = decode(answerOf(s, query('web.demo.svc.cluster.local', 'AAAA'))!);
    expect(nodata).toMatchObject({ rcode: 'NOERROR', answers: [] });
    expect(nodata.authorities![0]).toMatchObject({ type: 'SOA' });
  });

  it('an answer bigger than 512 bytes sets TC without EDNS0, fits within the EDNS0 size asked, and always fits over TCP', () => {
    const c = new MemoryServiceCatalog();
    const eps = (n: number) => Array.from({ length: n }, (_, i) => ({ ip: `10.244.${Math.floor(i / 200)}.${(i % 200) + 1}` }));
    c.replace([svc('many', 'demo', { clusterIP: 'None', clusterIPs: ['None'] }), svc('lots', 'demo', { clusterIP: 'None', clusterIPs: ['None'] })], [slice('many', 'demo', eps(20), []), slice('lots', 'demo', eps(100), [])]);
    const s = serverOn(c);
    const plain = answerOf(s, query('many.demo.svc.cluster.local', 'A'))!;
    expect(plain.length).toBeLessThanOrEqual(512);
    expect(decode(plain)).toMatchObject({ flag_tc: true, answers: [] });
    const edns = decode(answerOf(s, query('many.demo.svc.cluster.local', 'A', { edns: 4096 }))!);
    expect(edns.flag_tc).toBe(false);
    expect(edns.answers).toHaveLength(20);
    expect(edns.additionals).toEqual([expect.objectContaining({ type: 'OPT', udpPayloadSize: 1232 })]);
    // 100 addresses are over what we send over UDP at all (1232, the DNS flag day size)
    const big = answerOf(s, query('lots.demo.svc.cluster.local', 'A', { edns: 65000 }))!;
    expect(big.length).toBeLessThanOrEqual(1232);
    expect(decode(big).flag_tc).toBe(true);
    expect(decode(answerOf(s, query('lots.demo.svc.cluster.local', 'A'), 'tcp')!).answers).toHaveLength(100);
  });

  const long63 = 'a'.repeat(63);
  const badInput: [string, Buffer, number | 'dropped'][] = [
    ['an empty packet', Buffer.alloc(0), 'dropped'],
    ['fewer bytes than a header', Buffer.from([1, 2, 3, 4, 5]), 'dropped'],
    ['a response (QR set)', Buffer.concat([header({ flags: 0x8100 }), rawName(['web']), typeClass()]), 'dropped'],
    ['no question', header({ qd: 0 }), 1],
    ['two questions', Buffer.concat([header({ qd: 2 }), rawName(['a']), typeClass(), rawName(['b']), typeClass()]), 1],
    ['a label over 63 octets', Buffer.concat([header({}), rawName(['a'.repeat(64), 'cluster', 'local']), typeClass()]), 1],
    ['a name of 300 characters (over 255 octets)', Buffer.concat([header({}), rawName([long63, long63, long63, long63, 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz']), typeClass()]), 1],
    ['a question cut short in a label', Buffer.concat([header({}), Buffer.from([10, 0x61, 0x62])]), 1],
    ['a question without type and class', Buffer.concat([header({}), rawName(['web'])]), 1],
    ['a compression pointer in the question', Buffer.concat([header({}), Buffer.from([0xc0, 0x0c]), typeClass()]), 1],
    ['a reserved label type', Buffer.concat([header({}), Buffer.from([0x41, 0x00]), typeClass()]), 1],
    ['answer records in a query', Buffer.concat([header({ an: 1 }), rawName(['web']), typeClass()]), 1],
    ['an additional record cut short', Buffer.concat([header({ ar: 1 }), rawName(['web']), typeClass(), Buffer.from([0, 0, 41])]), 1],
    ['two OPT records', Buffer.concat([header({ ar: 2 }), rawName(['web']), typeClass(), Buffer.from([0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0])]), 1],
    ['opcode IQUERY', Buffer.concat([header({ flags: 0x0900 }), rawName(['web']), typeClass()]), 4],
    ['opcode NOTIFY', Buffer.concat([header({ flags: 0x2000 }), rawName(['cluster', 'local']), typeClass(6)]), 4],
    ['opcode UPDATE, with its prerequisite records', Buffer.concat([header({ flags: 0x2800, an: 1 }), rawName(['cluster', 'local']), typeClass(6)]), 4],
    ['class CHAOS for a cluster name', query('web.demo.svc.cluster.local', 'A', { cls: 'CH' }), 5],
    ['a zone transfer of the cluster domain', Buffer.concat([header({}), rawName(['cluster', 'local']), typeClass(252)]), 5],
    ['a label holding a dot', Buffer.concat([header({}), rawName(['we.b', 'cluster', 'local']), typeClass()]), 5],
    ['a name outside the cluster with no upstream', query('example.com', 'A'), 5],
  ];

  it.each(badInput)('bad input: %s → %s', (_what, buf, want) => {
    const registry = new MetricsRegistry();
    const out = answerOf(serverOn(demoCatalog(), registry), buf);
    if (want === 'dropped') {
      expect(out).toBeUndefined();
      return;
    }
    expect(out).toBeDefined();
    expect(out!.readUInt16BE(0)).toBe(buf.readUInt16BE(0));
    expect(out!.readUInt16BE(2) & 0x8000).toBe(0x8000);
    expect(rcodeOf(out!)).toBe(want);
    expect(() => packet.decode(out!)).not.toThrow();
    expect(registry.render()).toMatch(new RegExp(`flotilla_dns_responses_total\\{rcode="${['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][want]}"\\} 1`));
  });

  it('a name of exactly 255 octets is fine (253 characters), one more is FORMERR', () => {
    const s = serverOn();
    // 1+63 + 1+63 + 1+63 + 1+55 + 1+5 + 1 (the root) = 255
    const labels = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(55), 'local'];
    const ok = Buffer.concat([header({}), rawName(labels), typeClass()]);
    expect(rcodeOf(answerOf(s, ok)!)).toBe(5); // read fine: not ours, and no upstream here
    labels[3] = 'd'.repeat(56);
    expect(rcodeOf(answerOf(s, Buffer.concat([header({}), rawName(labels), typeClass()]))!)).toBe(1);
  });

  it('counts queries by type and transport, answers by rcode, and their latency, in the agent\'s registry', () => {
    const registry = new MetricsRegistry();
    const s = serverOn(demoCatalog(), registry);
    answerOf(s, query('web.demo.svc.cluster.local', 'A'));
    answerOf(s, query('web.demo.svc.cluster.local', 'AAAA'));
    answerOf(s, query('nope.demo.svc.cluster.local', 'A'), 'tcp');
    answerOf(s, Buffer.concat([header({}), Buffer.from([0xff, 0xff, 0xff, 0xff])]), 'udp');
    const text = registry.render();
    expect(text).toContain('flotilla_dns_requests_total{proto="udp",type="A"} 1');
    expect(text).toContain('flotilla_dns_requests_total{proto="udp",type="AAAA"} 1');
    expect(text).toContain('flotilla_dns_requests_total{proto="tcp",type="A"} 1');
    expect(text).toContain('flotilla_dns_responses_total{rcode="NOERROR"} 2');
    expect(text).toContain('flotilla_dns_responses_total{rcode="NXDOMAIN"} 1');
    expect(text).toContain('flotilla_dns_responses_total{rcode="FORMERR"} 1');
    expect(text).toContain('flotilla_dns_request_duration_seconds_count 4');
  });
});

// ---------------------------------------------------------------- fuzz

/** A small seeded PRNG (mulberry32): the same packets every run, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('[dns] fuzz: no input makes the server throw', () => {
  const seeds = [
    query('web.demo.svc.cluster.local', 'A'),
    query('_pg._tcp.db.demo.svc.cluster.local', 'SRV', { edns: 1232 }),
    query('5.1.244.10.in-addr.arpa', 'PTR'),
    query('db-0.db.demo.svc.cluster.local', 'AAAA', { edns: 512 }),
    query('ext.demo.svc.cluster.local', 'CNAME'),
    query('10-244-1-5.demo.pod.cluster.local', 'A'),
  ];

  it('8 000 random and mutated packets (seed 16): each is dropped or answered with a well-formed reply to its ID', () => {
    const rnd = prng(16);
    const s = serverOn();
    let answered = 0;
    for (let i = 0; i < 8000; i++) {
      let buf: Buffer;
      if (i % 4 === 0) {
        buf = Buffer.from(Array.from({ length: Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256)));
      } else {
        buf = Buffer.from(seeds[i % seeds.length]!);
        const flips = 1 + Math.floor(rnd() * 6);
        for (let f = 0; f < flips; f++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
        if (rnd() < 0.2) buf = buf.subarray(0, Math.floor(rnd() * buf.length));
        if (rnd() < 0.1) buf = Buffer.concat([buf, Buffer.from(Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)))]);
      }
      let out: Buffer | undefined;
      expect(() => (out = answerOf(s, buf, rnd() < 0.5 ? 'udp' : 'tcp'))).not.toThrow();
      if (!out) continue;
      answered++;
      expect(out.readUInt16BE(0)).toBe(buf.readUInt16BE(0));
      expect(out.readUInt16BE(2) & 0x8000).toBe(0x8000);
      expect(() => packet.decode(out!)).not.toThrow();
    }
    // most mutations leave a header and a question: the server answers them (FORMERR or otherwise)
    expect(answered).toBeGreaterThan(4000);
  });
});

// ---------------------------------------------------------------- forward cache, upstreams

describe('[dns] the forward cache keeps answers by their TTL and denials by the SOA minimum, capped', () => {
  const soa = (ttl: number, minimum: number): Answer => ({ name: 'example.com', type: 'SOA', ttl, data: { mname: 'ns', rname: 'h', minimum } });
  const a = (ttl: number): Answer => ({ name: 'x.example.com', type: 'A', ttl, data: '192.0.2.1' });

  it.each([
    ['an answer: its smallest TTL', { rcode: 0, answers: [a(300), a(60)], authorities: [], additionals: [] }, { kind: 'success', ttl: 60 }],
    ['an answer with a day-long TTL: an hour at most', { rcode: 0, answers: [a(86400)], authorities: [], additionals: [] }, { kind: 'success', ttl: 3600 }],
    ['NXDOMAIN: the smaller of the SOA TTL and minimum', { rcode: 3, answers: [], authorities: [soa(900, 120)], additionals: [] }, { kind: 'denial', ttl: 120 }],
    ['NODATA: as NXDOMAIN', { rcode: 0, answers: [], authorities: [soa(30, 600)], additionals: [] }, { kind: 'denial', ttl: 30 }],
    ['a denial with a huge minimum: half an hour at most', { rcode: 3, answers: [], authorities: [soa(86400, 86400)], additionals: [] }, { kind: 'denial', ttl: 1800 }],
    ['a denial without SOA: not kept', { rcode: 3, answers: [], authorities: [], additionals: [] }, undefined],
    ['SERVFAIL: not kept', { rcode: 2, answers: [], authorities: [], additionals: [] }, undefined],
    ['TTL 0: not kept', { rcode: 0, answers: [a(0)], authorities: [], additionals: [] }, undefined],
  ])('%s', (_what, ans, want) => {
    expect(cacheLifetime(ans)).toEqual(want);
  });

  it('an entry expires after its lifetime and the oldest goes when full', () => {
    let now = 0;
    const c = new AnswerCache(() => now, 2);
    c.put('a', { rcode: 0, answers: [a(10)], authorities: [], additionals: [] });
    now = 9_000;
    expect(c.get('a')?.remaining).toBe(1);
    now = 10_000;
    expect(c.get('a')).toBeUndefined();
    c.put('x', { rcode: 0, answers: [a(10)], authorities: [], additionals: [] });
    c.put('y', { rcode: 0, answers: [a(10)], authorities: [], additionals: [] });
    c.put('z', { rcode: 0, answers: [a(10)], authorities: [], additionals: [] });
    expect([c.get('x'), c.get('y') !== undefined, c.get('z') !== undefined]).toEqual([undefined, true, true]);
  });

  it('upstreams come from the host\'s resolv.conf, without the server\'s own address or non-addresses', () => {
    expect(upstreamsFrom('# x\nnameserver 10.96.0.10\nnameserver 192.0.2.53\nnameserver not-an-address\nnameserver 2001:db8::53\nsearch a b\n', ['10.96.0.10'])).toEqual([
      { host: '192.0.2.53', port: 53 },
      { host: '2001:db8::53', port: 53 },
    ]);
  });
});

// ---------------------------------------------------------------- pod resolv.conf, dnsConfig

function pod(spec: Partial<Pod['spec']> = {}, namespace = 'demo'): Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace, uid: 'u1' }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } };
}

const HOST = 'nameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example lab.example\noptions edns0 timeout:2\n';
const settings = { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', hostResolvConf: HOST };

describe('[dns] a pod\'s resolv.conf by dnsPolicy, as the kubelet writes it', () => {
  it('ClusterFirst (the default): the cluster DNS, the namespace search path then the host\'s, ndots:5', () => {
    expect(podResolvConfText(pod(), settings)).toBe(
      'search demo.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n',
    );
    expect(podResolvConfText(pod({ dnsPolicy: 'ClusterFirst' }, 'team-a'), { ...settings, clusterDomain: 'corp.internal' })).toMatch(/^search team-a\.svc\.corp\.internal svc\.corp\.internal corp\.internal /);
  });

  it('Default: the node\'s resolv.conf as it is', () => {
    expect(podResolvConf(pod({ dnsPolicy: 'Default' }), settings)).toEqual({ nameservers: ['192.0.2.53', '192.0.2.54'], searches: ['corp.example', 'lab.example'], options: ['edns0', 'timeout:2'] });
  });

  it('hostNetwork with ClusterFirst gets the node\'s; ClusterFirstWithHostNet gets the cluster\'s', () => {
    expect(podResolvConf(pod({ hostNetwork: true }), settings).nameservers).toEqual(['192.0.2.53', '192.0.2.54']);
    expect(podResolvConf(pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), settings).nameservers).toEqual(['10.96.0.10']);
    expect(podResolvConf(pod({ dnsPolicy: 'ClusterFirstWithHostNet' }), settings).nameservers).toEqual(['10.96.0.10']);
  });

  it('an agent without --cluster-dns gives ClusterFirst pods the node\'s resolv.conf, as the kubelet does', () => {
    expect(podResolvConf(pod(), { ...settings, clusterDNS: [] }).nameservers).toEqual(['192.0.2.53', '192.0.2.54']);
  });

  it('None: only dnsConfig', () => {
    const p = pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: ['x.example'], options: [{ name: 'ndots', value: '2' }, { name: 'rotate' }] } });
    expect(podResolvConfText(p, settings)).toBe('search x.example\nnameserver 1.1.1.1\noptions ndots:2 rotate\n');
  });

  it('dnsConfig is merged: nameservers and searches appended without duplicates, options replaced by name', () => {
    const p = pod({ dnsConfig: { nameservers: ['10.96.0.10', '1.1.1.1'], searches: ['cluster.local', 'extra.example'], options: [{ name: 'ndots', value: '1' }, { name: 'edns0' }] } });
    expect(podResolvConf(p, settings)).toEqual({
      nameservers: ['10.96.0.10', '1.1.1.1'],
      searches: ['demo.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example', 'extra.example'],
      options: ['ndots:1', 'edns0'],
    });
  });

  it('the limits: at most 3 nameservers, 32 search paths and 2048 characters (the first kept)', () => {
    const host = `nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch ${Array.from({ length: 40 }, (_, i) => `d${i}.example`).join(' ')}\n`;
    const p = pod({ dnsPolicy: 'Default', dnsConfig: { nameservers: ['192.0.2.3', '192.0.2.4'] } });
    const r = podResolvConf(p, { ...settings, hostResolvConf: host });
    expect(r.nameservers).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    expect(r.searches).toHaveLength(32);
    expect(r.searches[0]).toBe('d0.example');
    const longs = Array.from({ length: 10 }, (_, i) => `${String(i).padEnd(250, 'x')}.example`);
    const cut = podResolvConf(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: longs } }), settings).searches;
    expect(cut.join(' ').length).toBeLessThanOrEqual(2048);
    expect(cut).toEqual(longs.slice(0, 7));
  });

  it('resolv.conf is read as glibc does (comments, the last search wins) and written back', () => {
    const c = parseResolvConf('; c\nsearch a b\ndomain c\nnameserver 1.2.3.4 # x\noptions ndots:3 attempts:2\n');
    expect(c).toEqual({ nameservers: ['1.2.3.4'], searches: ['c'], options: ['ndots:3', 'attempts:2'] });
    expect(formatResolvConf(c)).toBe('search c\nnameserver 1.2.3.4\noptions ndots:3 attempts:2\n');
  });
});

function podError(spec: Record<string, unknown>): string {
  try {
    assertValid({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'demo' }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } });
    return '';
  } catch (e) {
    if (e instanceof InvalidError) return e.message;
    throw e;
  }
}

describe('[api] pod dnsPolicy and dnsConfig validation, in kube-apiserver\'s words', () => {
  it.each([
    ['a full dnsConfig', { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1', '2001:db8::1'], searches: ['a.example', 'b.example.', '.'], options: [{ name: 'ndots', value: '2' }] } }, ''],
    ['dnsConfig with ClusterFirst', { dnsConfig: { options: [{ name: 'edns0' }] } }, ''],
    ['None without dnsConfig', { dnsPolicy: 'None' }, 'Pod "p" is invalid: spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None'],
    ['None without nameservers', { dnsPolicy: 'None', dnsConfig: { searches: ['a.example'] } }, 'Pod "p" is invalid: spec.dnsConfig.nameservers: Required value: must provide at least one DNS nameserver when `dnsPolicy` is None'],
    ['four nameservers', { dnsConfig: { nameservers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4'] } }, 'Pod "p" is invalid: spec.dnsConfig.nameservers: Invalid value: ["1.1.1.1","1.1.1.2","1.1.1.3","1.1.1.4"]: must not have more than 3 nameservers'],
    ['a nameserver that is not an IP', { dnsConfig: { nameservers: ['dns.example'] } }, 'Pod "p" is invalid: spec.dnsConfig.nameservers[0]: Invalid value: "dns.example": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'],
    ['33 search paths', { dnsConfig: { searches: Array.from({ length: 33 }, (_, i) => `s${i}.example`) } }, 'spec.dnsConfig.searches: Invalid value:'],
    ['a search path that is not a DNS name', { dnsConfig: { searches: ['Bad_Name'] } }, 'Pod "p" is invalid: spec.dnsConfig.searches[0]: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'],
    ['an option without a name', { dnsConfig: { options: [{ value: '2' }] } }, 'Pod "p" is invalid: spec.dnsConfig.options[0]: Required value: Option.Name must not be empty'],
    ['an unknown dnsPolicy', { dnsPolicy: 'Cluster' }, 'Pod "p" is invalid: spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"'],
  ])('%s', (_what, spec, want) => {
    const msg = podError(spec);
    if (want === '') expect(msg).toBe('');
    else expect(msg).toContain(want);
  });

  it('33 search paths and a list over 2048 characters name their limits', () => {
    expect(podError({ dnsConfig: { searches: Array.from({ length: 33 }, (_, i) => `s${i}.example`) } })).toMatch(/must not have more than 32 search paths$/);
    const long = Array.from({ length: 10 }, (_, i) => `${String(i).padEnd(250, 'x')}.example`);
    expect(podError({ dnsConfig: { searches: long } })).toContain('must not have more than 2048 characters (including spaces) in the search list');
  });
});

// ---------------------------------------------------------------- the listen interface

/** A kernel of links and addresses in memory, with or without the dummy driver. */
class FakeLinks {
  readonly links = new Map<string, { kind: string; up: boolean; addrs: string[] }>();
  readonly calls: string[] = [];
  constructor(private readonly hasDummy: boolean) {}
  linkFind = async (name: string | number) => (this.links.has(String(name)) ? ({ name: String(name) } as never) : undefined);
  linkAdd = async (spec: { name: string; kind: string }) => {
    this.calls.push(`add ${spec.name} ${spec.kind}`);
    if (spec.kind === 'dummy' && !this.hasDummy) throw new Error('linkAdd: RTM_NEWLINK flotilla-dns: Operation not supported (EOPNOTSUPP)');
    this.links.set(spec.name, { kind: spec.kind, up: false, addrs: [] });
  };
  linkDel = async (name: string | number) => {
    this.calls.push(`del ${String(name)}`);
    this.links.delete(String(name));
  };
  linkSetUp = async (name: string | number) => {
    this.links.get(String(name))!.up = true;
  };
  addrReplace = async (a: { link: string | number; address: string }) => {
    const l = this.links.get(String(a.link))!;
    if (!l.addrs.includes(a.address)) l.addrs.push(a.address);
  };
  addrList = async () => [];
}

describe('[dns] the flotilla-dns interface', () => {
  it('a dummy link holding the kube-dns IP/32, up; a port-less bridge where the kernel has no dummy driver', async () => {
    const withDummy = new FakeLinks(true);
    await ensureDnsInterface(withDummy, '10.96.0.10');
    expect(withDummy.links.get('flotilla-dns')).toEqual({ kind: 'dummy', up: true, addrs: ['10.96.0.10/32'] });
    const without = new FakeLinks(false);
    await ensureDnsInterface(without, '10.96.0.10');
    expect(without.calls).toEqual(['add flotilla-dns dummy', 'add flotilla-dns bridge']);
    expect(without.links.get('flotilla-dns')).toEqual({ kind: 'bridge', up: true, addrs: ['10.96.0.10/32'] });
  });

  it('a link left by a crash is taken over as it is; removal is idempotent', async () => {
    const k = new FakeLinks(true);
    k.links.set('flotilla-dns', { kind: 'dummy', up: false, addrs: ['10.96.0.10/32'] });
    await ensureDnsInterface(k, '10.96.0.10');
    expect(k.calls).toEqual([]);
    expect(k.links.get('flotilla-dns')).toEqual({ kind: 'dummy', up: true, addrs: ['10.96.0.10/32'] });
    await removeDnsInterface(k);
    await removeDnsInterface(k);
    expect(k.calls).toEqual(['del flotilla-dns']);
  });
});
