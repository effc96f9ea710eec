// The forwarder's cache: upstream answers kept for their TTL (success) or the
// SOA minimum of their authority (denial, RFC 2308), both capped, as CoreDNS's
// cache plugin does. Bounded in entries; the oldest go first.
import type { Answer } from 'dns-packet';

/** CoreDNS's cache plugin caps: an hour for answers, half an hour for denials. */
export const MAX_SUCCESS_TTL = 3600;
export const MAX_DENIAL_TTL = 1800;
export const DEFAULT_CACHE_ENTRIES = 10_000;

/** An upstream answer as kept: its rcode (number) and records. */
export interface UpstreamAnswer {
  rcode: number;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

export interface CachedAnswer {
  answer: UpstreamAnswer;
  kind: 'success' | 'denial';
  storedAt: number;
  ttl: number;
}

const ttlOf = (r: Answer): number => ('ttl' in r && typeof r.ttl === 'number' ? r.ttl : 0);

/** How long an upstream answer may be kept (seconds), and as what; undefined: not at all. */
export function cacheLifetime(p: UpstreamAnswer): { kind: 'success' | 'denial'; ttl: number } | undefined {
  const NOERROR = 0;
  const NXDOMAIN = 3;
  const answers = p.answers;
  if (p.rcode === NOERROR && answers.length > 0) {
    const ttl = Math.min(...answers.map(ttlOf));
    return ttl > 0 ? { kind: 'success', ttl: Math.min(ttl, MAX_SUCCESS_TTL) } : undefined;
  }
  if (p.rcode !== NOERROR && p.rcode !== NXDOMAIN) return undefined;
  // A denial without an SOA has no negative TTL: it is not cached (RFC 2308 §5).
  const soa = p.authorities.find((r) => r.type === 'SOA');
  if (!soa || soa.type !== 'SOA') return undefined;
  const ttl = Math.min(ttlOf(soa), soa.data.minimum ?? 0);
  return ttl > 0 ? { kind: 'denial', ttl: Math.min(ttl, MAX_DENIAL_TTL) } : undefined;
}

export class AnswerCache {
  private readonly entries = new Map<string, CachedAnswer>();

  constructor(
    private readonly now: () => number,
    private readonly maxEntries = DEFAULT_CACHE_ENTRIES,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The entry and the seconds it has left, or undefined when absent or expired. */
  get(key: string): { entry: CachedAnswer; remaining: number } | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const age = (this.now() - e.storedAt) / 1000;
    if (age >= e.ttl) {
      this.entries.delete(key);
      return undefined;
    }
    return { entry: e, remaining: Math.max(1, Math.floor(e.ttl - age)) };
  }

  /** Keeps P when it may be kept; true when it was. */
  put(key: string, p: UpstreamAnswer): boolean {
    const life = cacheLifetime(p);
    if (!life) return false;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { answer: p, kind: life.kind, storedAt: this.now(), ttl: life.ttl });
    return true;
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Records with their TTLs lowered by the time spent in the cache (never below 1 s); OPT left out. */
export function agedRecords(list: readonly Answer[] | undefined, elapsedSeconds: number): Answer[] {
  return (list ?? [])
    .filter((r) => r.type !== 'OPT')
    .map((r) => ('ttl' in r && typeof r.ttl === 'number' ? ({ ...r, ttl: Math.max(1, r.ttl - elapsedSeconds) } as Answer) : r));
}
