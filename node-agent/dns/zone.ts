// The cluster zone: what the node's name server answers from the agent's
// ServiceCatalog, with the names and records of CoreDNS's kubernetes plugin
// (`pods insecure`, authoritative for the cluster domain and for the reverse
// names of the addresses it knows). Pure: a question in, an answer out; the
// server turns it into bytes. Rebuilt from the catalog on its next use after a
// change, so a query never waits for the API.
import { isIPv4 } from 'node:net';
import type { Answer, RecordType, SrvAnswer } from 'dns-packet';
import { isHeadlessService, type EndpointSlice, type Service } from '../../api/index.js';
import type { ServiceCatalog } from '../services/catalog.js';

export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
/** CoreDNS's kubernetes plugin answers with TTL 5 s (its `ttl` default). */
export const CLUSTER_TTL_SECONDS = 5;

export type ZoneRcode = 'NOERROR' | 'NXDOMAIN';

/** An answer of the zone: NODATA is NOERROR with no answers (the SOA goes in authority either way). */
export interface ZoneAnswer {
  rcode: ZoneRcode;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

export interface ClusterZoneOptions {
  /** Default cluster.local. */
  domain?: string;
  ttl?: number;
}

interface EndpointEntry {
  ip: string;
  /** The endpoint's own label: its hostname, else its address with dashes (CoreDNS's endpoint names). */
  label: string;
  /** Port name → number, from its slice. */
  ports: Map<string, { port: number; protocol: string }>;
}

interface ServiceEntry {
  svc: Service;
  headless: boolean;
  endpoints: EndpointEntry[];
}

interface ZoneIndex {
  services: Map<string, ServiceEntry>;
  namespaces: Set<string>;
  /** a.b.c.d → the name its PTR gives. */
  reverse: Map<string, string>;
}

const lower = (s: string) => s.toLowerCase();

/** A trailing dot and case do not matter to DNS. */
export function normalizeName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return lower(n);
}

/** `d.c.b.a.in-addr.arpa` → `a.b.c.d`, or undefined when it is not a full IPv4 reverse name. */
export function reverseToIPv4(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  if (!m) return undefined;
  const ip = `${m[4]}.${m[3]}.${m[2]}.${m[1]}`;
  return isIPv4(ip) ? ip : undefined;
}

function endpointReady(e: EndpointSlice['endpoints'][number]): boolean {
  // An absent ready condition means ready (EndpointConditions' documented default).
  return e.conditions?.ready !== false;
}

function endpointsOf(svc: Service, slices: readonly EndpointSlice[]): EndpointEntry[] {
  const out: EndpointEntry[] = [];
  const seen = new Set<string>();
  const includeNotReady = svc.spec.publishNotReadyAddresses === true;
  for (const slice of slices) {
    if (slice?.addressType !== 'IPv4') continue; // our service network is IPv4 only
    const ports = new Map<string, { port: number; protocol: string }>();
    for (const p of Array.isArray(slice.ports) ? slice.ports : []) if (p && typeof p.port === 'number') ports.set(p.name ?? '', { port: p.port, protocol: p.protocol ?? 'TCP' });
    for (const e of Array.isArray(slice.endpoints) ? slice.endpoints : []) {
      if (!e || (!includeNotReady && !endpointReady(e))) continue;
      for (const ip of Array.isArray(e.addresses) ? e.addresses : []) {
        if (!isIPv4(ip) || seen.has(ip)) continue;
        seen.add(ip);
        out.push({ ip, label: lower(e.hostname ?? ip.replace(/\./g, '-')), ports });
      }
    }
  }
  return out;
}

function buildIndex(catalog: ServiceCatalog, domain: string): ZoneIndex {
  const idx: ZoneIndex = { services: new Map(), namespaces: new Set(), reverse: new Map() };
  for (const svc of catalog.services()) {
    // What comes over the wire is not trusted to be a whole Service (one seen: the ServicesConfig
    // object kept under the services key prefix): a broken object costs its own name, not the zone.
    if (!svc?.metadata || !svc.spec || typeof svc.spec !== 'object') {
      continue;
    }
    const ns = svc.metadata.namespace ?? '';
    const name = svc.metadata.name ?? '';
    const headless = isHeadlessService(svc);
    const endpoints = headless ? endpointsOf(svc, catalog.slicesFor(ns, name)) : [];
    idx.services.set(`${lower(name)}.${lower(ns)}`, { svc, headless, endpoints });
    idx.namespaces.add(lower(ns));
    const fqdn = `${lower(name)}.${lower(ns)}.svc.${domain}`;
    if (svc.spec.type === 'ExternalName') continue;
    for (const ip of svc.spec.clusterIPs ?? (svc.spec.clusterIP ? [svc.spec.clusterIP] : [])) if (isIPv4(ip)) idx.reverse.set(ip, fqdn);
    for (const e of endpoints) if (!idx.reverse.has(e.ip)) idx.reverse.set(e.ip, `${e.label}.${fqdn}`);
  }
  return idx;
}

/** Answers the cluster domain and the reverse names of cluster addresses from a ServiceCatalog. */
export class ClusterZone {
  readonly domain: string;
  readonly ttl: number;
  private index: ZoneIndex | undefined;
  /** Bumped on every catalog change: the server's answer cache keys on it. */
  generation = 0;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly catalog: ServiceCatalog,
    opts: ClusterZoneOptions = {},
  ) {
    this.domain = normalizeName(opts.domain ?? DEFAULT_CLUSTER_DOMAIN);
    this.ttl = opts.ttl ?? CLUSTER_TTL_SECONDS;
    this.unsubscribe = catalog.onChange(() => {
      this.index = undefined;
      this.generation++;
    });
  }

  close(): void {
    this.unsubscribe();
  }

  private idx(): ZoneIndex {
    this.index ??= buildIndex(this.catalog, this.domain);
    return this.index;
  }

  /** True when NAME (normalized) is the cluster domain or below it. */
  inDomain(name: string): boolean {
    return name === this.domain || name.endsWith(`.${this.domain}`);
  }

  /**
   * The zone's answer to (QNAME, TYPE), or undefined when the name is not the
   * zone's: another domain, or a reverse name of an address it does not know
   * (CoreDNS's `fallthrough in-addr.arpa`) — the server forwards those.
   */
  answer(qname: string, type: RecordType): ZoneAnswer | undefined {
    const name = normalizeName(qname);
    if (name.endsWith('.in-addr.arpa')) return this.answerReverse(qname, name, type);
    if (!this.inDomain(name)) return undefined;
    const rel = name === this.domain ? [] : name.slice(0, -this.domain.length - 1).split('.');
    const owner = qname.endsWith('.') ? qname.slice(0, -1) : qname;
    if (rel.length === 0) return type === 'SOA' ? this.result([this.soa()]) : this.nodata();
    const kind = rel[rel.length - 1];
    if (kind === 'svc') return this.answerSvc(owner, rel.slice(0, -1), type);
    if (kind === 'pod') return this.answerPod(owner, rel.slice(0, -1), type);
    return this.nxdomain();
  }

  // ------------------------------------------------------------------ svc

  private answerSvc(owner: string, rel: string[], type: RecordType): ZoneAnswer {
    // rel is what precedes `svc.<domain>`: [] | [ns] | [svc, ns] | [ep, svc, ns] | [_port, _proto, svc, ns]
    if (rel.length === 0) return this.nodata();
    const ns = rel[rel.length - 1]!;
    if (rel.length === 1) return this.idx().namespaces.has(ns) ? this.nodata() : this.nxdomain();
    const entry = this.idx().services.get(`${rel[rel.length - 2]}.${ns}`);
    if (!entry) return this.nxdomain();
    const svcName = `${rel[rel.length - 2]}.${ns}.svc.${this.domain}`;
    if (rel.length === 2) return this.answerService(owner, svcName, entry, type);
    if (rel.length === 3) return this.answerEndpoint(owner, entry, rel[0]!, type);
    if (rel.length === 4 && rel[0]!.startsWith('_') && rel[1]!.startsWith('_')) return this.answerPortSrv(owner, svcName, entry, rel[0]!.slice(1), rel[1]!.slice(1), type);
    return this.nxdomain();
  }

  private answerService(owner: string, svcName: string, entry: ServiceEntry, type: RecordType): ZoneAnswer {
    const spec = entry.svc.spec;
    if (spec.type === 'ExternalName') {
      // CoreDNS answers an ExternalName Service with its CNAME whatever the type asked; the resolver follows it.
      const target = normalizeName(spec.externalName ?? '');
      return target ? this.result([{ name: owner, type: 'CNAME', ttl: this.ttl, data: target }]) : this.nodata();
    }
    if (!entry.headless) {
      const ips = (spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])).filter((ip) => isIPv4(ip));
      if (type === 'A') return this.result(ips.map((ip) => this.a(owner, ip)));
      if (type === 'SRV') {
        const srv = (spec.ports ?? []).map((p) => this.srv(owner, svcName, p.port));
        return this.result(srv, ips.map((ip) => this.a(svcName, ip)));
      }
      return this.nodata();
    }
    // Headless: every ready endpoint (all of them with publishNotReadyAddresses).
    if (type === 'A') return this.result(entry.endpoints.map((e) => this.a(owner, e.ip)));
    if (type === 'SRV') {
      const srv: Answer[] = [];
      const extra: Answer[] = [];
      for (const e of entry.endpoints) {
        const target = `${e.label}.${svcName}`;
        for (const p of e.ports.values()) srv.push(this.srv(owner, target, p.port));
        extra.push(this.a(target, e.ip));
      }
      return this.result(srv, extra);
    }
    return this.nodata();
  }

  private answerEndpoint(owner: string, entry: ServiceEntry, label: string, type: RecordType): ZoneAnswer {
    // `<hostname>.<svc>.<ns>.svc` exists only for headless Services (StatefulSet pods' stable names).
    const matches = entry.headless ? entry.endpoints.filter((e) => e.label === label) : [];
    if (matches.length === 0) return this.nxdomain();
    return type === 'A' ? this.result(matches.map((e) => this.a(owner, e.ip))) : this.nodata();
  }

  private answerPortSrv(owner: string, svcName: string, entry: ServiceEntry, portName: string, proto: string, type: RecordType): ZoneAnswer {
    const port = (entry.svc.spec.ports ?? []).find((p) => p.name !== undefined && lower(p.name) === portName && lower(p.protocol ?? 'TCP') === proto);
    if (!port || entry.svc.spec.type === 'ExternalName') return this.nxdomain();
    if (type !== 'SRV') return this.nodata();
    if (!entry.headless) {
      const ips = (entry.svc.spec.clusterIPs ?? [entry.svc.spec.clusterIP ?? '']).filter((ip) => isIPv4(ip));
      return this.result([this.srv(owner, svcName, port.port)], ips.map((ip) => this.a(svcName, ip)));
    }
    const srv: Answer[] = [];
    const extra: Answer[] = [];
    for (const e of entry.endpoints) {
      const p = e.ports.get(port.name ?? '');
      if (!p) continue;
      const target = `${e.label}.${svcName}`;
      srv.push(this.srv(owner, target, p.port));
      extra.push(this.a(target, e.ip));
    }
    return this.result(srv, extra);
  }

  // ------------------------------------------------------------------ pod, reverse

  private answerPod(owner: string, rel: string[], type: RecordType): ZoneAnswer {
    // `a-b-c-d.<ns>.pod.<domain>` as `pods insecure`: any well-formed address answers, unchecked.
    if (rel.length === 0) return this.nodata();
    if (rel.length !== 2) return this.nxdomain();
    const ip = rel[0]!.replace(/-/g, '.');
    if (!isIPv4(ip)) return this.nxdomain();
    return type === 'A' ? this.result([this.a(owner, ip)]) : this.nodata();
  }

  private answerReverse(qname: string, name: string, type: RecordType): ZoneAnswer | undefined {
    const ip = reverseToIPv4(name);
    const target = ip ? this.idx().reverse.get(ip) : undefined;
    if (!target) return undefined;
    const owner = qname.endsWith('.') ? qname.slice(0, -1) : qname;
    return type === 'PTR' ? this.result([{ name: owner, type: 'PTR', ttl: this.ttl, data: target }]) : this.nodata();
  }

  // ------------------------------------------------------------------ records

  /** The zone's SOA, as CoreDNS writes it (negative answers are cached for its minimum, the TTL). */
  soa(): Answer {
    return {
      name: this.domain,
      type: 'SOA',
      ttl: this.ttl,
      data: { mname: `ns.dns.${this.domain}`, rname: `hostmaster.${this.domain}`, serial: 1 + (this.generation % 0x7fffffff), refresh: 7200, retry: 1800, expire: 86400, minimum: this.ttl },
    };
  }

  private a(name: string, ip: string): Answer {
    return { name, type: 'A', ttl: this.ttl, data: ip };
  }

  private srv(name: string, target: string, port: number): SrvAnswer {
    return { name, type: 'SRV', ttl: this.ttl, data: { priority: 0, weight: 100, port, target } };
  }

  private result(answers: Answer[], additionals: Answer[] = []): ZoneAnswer {
    // An existing name without records of the type is NODATA: SOA in authority, as for NXDOMAIN.
    return answers.length === 0 ? this.nodata() : { rcode: 'NOERROR', answers, authorities: [], additionals };
  }

  private nodata(): ZoneAnswer {
    return { rcode: 'NOERROR', answers: [], authorities: [this.soa()], additionals: [] };
  }

  private nxdomain(): ZoneAnswer {
    return { rcode: 'NXDOMAIN', answers: [], authorities: [this.soa()], additionals: [] };
  }
}
