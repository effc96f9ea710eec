// The kind registry: which kinds the API serves, in which group versions. An
// explicit list (kinds/index.ts registers each kind with one line), no import
// side effects. Everything that used to switch over kinds asks the registry.
import type { KindDescriptor } from './kind.js';

/** A resource a group version serves outside the kind machinery (its own routes), for discovery. */
export interface ExtraResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
}

export interface GroupVersion {
  group: string;
  version: string;
  /** `apps/v1`, or `v1` for the core group. */
  groupVersion: string;
  extra: ExtraResource[];
}

export class KindRegistry {
  private readonly kinds: KindDescriptor[] = [];
  private readonly gvs = new Map<string, GroupVersion>();
  private readonly byPath = new Map<string, KindDescriptor>();
  private readonly byKind = new Map<string, KindDescriptor>();

  /** Adds a kind. Throws when its resource or kind is taken in its group version, or a part is missing. */
  register(d: KindDescriptor): this {
    if (typeof d.validate !== 'function') throw new Error(`kind ${d.kind}: cannot register a kind without a validator`);
    if (!d.printer || !d.schema || !d.strategy) throw new Error(`kind ${d.kind}: descriptor is incomplete (use defineKind)`);
    const path = `${d.apiVersion}/${d.plural}`;
    const kindKey = `${d.apiVersion}/${d.kind}`;
    if (this.byPath.has(path)) throw new Error(`resource ${d.plural} is already registered in ${d.apiVersion}`);
    if (this.byKind.has(kindKey)) throw new Error(`kind ${d.kind} is already registered in ${d.apiVersion}`);
    this.addGroupVersion(d.group, d.version);
    this.kinds.push(d);
    this.byPath.set(path, d);
    this.byKind.set(kindKey, d);
    return this;
  }

  /** Serves a group version (discovery, routing) even before any kind of it is registered. */
  addGroupVersion(group: string, version: string, extra: ExtraResource[] = []): this {
    const groupVersion = group === '' ? version : `${group}/${version}`;
    const gv = this.gvs.get(groupVersion);
    if (gv) gv.extra.push(...extra);
    else this.gvs.set(groupVersion, { group, version, groupVersion, extra: [...extra] });
    return this;
  }

  /** Every kind, in registration order. */
  all(): readonly KindDescriptor[] {
    return this.kinds;
  }

  /** The group versions served, core first, then groups in registration order. */
  groupVersions(): readonly GroupVersion[] {
    return [...this.gvs.values()];
  }

  hasGroupVersion(group: string, version: string): boolean {
    return this.gvs.has(group === '' ? version : `${group}/${version}`);
  }

  /** The kind served at `/api(s)/<group>/<version>/<plural>`. */
  forResource(group: string, version: string, plural: string): KindDescriptor | undefined {
    return this.byPath.get(`${group === '' ? version : `${group}/${version}`}/${plural}`);
  }

  /** The kind of an apiVersion + kind. */
  forKind(apiVersion: string, kind: string): KindDescriptor | undefined {
    return this.byKind.get(`${apiVersion}/${kind}`);
  }

  /** The kinds of a group version. */
  ofGroupVersion(group: string, version: string): KindDescriptor[] {
    return this.kinds.filter((k) => k.group === group && k.version === version);
  }

  /**
   * A kind by a word a user types (plural, singular, short name or kind,
   * case-insensitive; `deployments.apps` names the group). Core kinds win.
   */
  lookup(word: string): KindDescriptor | undefined {
    const w = word.toLowerCase();
    const dot = w.indexOf('.');
    const name = dot < 0 ? w : w.slice(0, dot);
    const group = dot < 0 ? undefined : w.slice(dot + 1);
    const matches = (k: KindDescriptor) =>
      (group === undefined || k.group === group || `${k.version}.${k.group}` === group) &&
      (k.plural === name || k.singular === name || k.shortNames.includes(name) || k.kind.toLowerCase() === name);
    return this.kinds.find((k) => k.group === '' && matches(k)) ?? this.kinds.find(matches);
  }
}
