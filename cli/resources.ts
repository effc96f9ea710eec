// Which resource types the server has, from its discovery documents (`/api/v1`,
// then `/apis` groups), as kubectl resolves `get po` or a manifest's kind.
import type { Transport } from './client.js';
import { CliError } from './errors.js';

export interface ResourceRef {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  verbs: string[];
  categories: string[];
}

interface APIResource {
  name: string;
  singularName?: string;
  namespaced?: boolean;
  kind: string;
  shortNames?: string[];
  verbs?: string[];
  categories?: string[];
}

interface APIResourceList {
  groupVersion?: string;
  resources?: APIResource[];
}

interface APIGroupList {
  groups?: { name: string; preferredVersion?: { groupVersion: string }; versions?: { groupVersion: string }[] }[];
}

export function apiVersionOf(ref: ResourceRef): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

/** The REST path of a collection or an object: `/api/v1/namespaces/default/pods/web`. */
export function resourcePath(ref: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  let p = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  if (ref.namespaced && namespace !== undefined) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${ref.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) p += `/${subresource}`;
  return p;
}

export function refsFromList(list: APIResourceList, groupVersion: string): ResourceRef[] {
  const [group, version] = groupVersion.includes('/') ? groupVersion.split('/', 2) as [string, string] : ['', groupVersion];
  return (list.resources ?? [])
    .filter((r) => !r.name.includes('/'))
    .map((r) => ({
      group,
      version,
      plural: r.name,
      singular: r.singularName || r.kind.toLowerCase(),
      kind: r.kind,
      namespaced: r.namespaced === true,
      shortNames: r.shortNames ?? [],
      verbs: r.verbs ?? [],
      categories: r.categories ?? [],
    }));
}

/** Matches a user's word (`pods`, `pod`, `po`, `Pod`, `pods.v1.`) against known resources. */
export function matchResource(refs: ResourceRef[], word: string): ResourceRef | undefined {
  const w = word.toLowerCase().replace(/\.$/, '');
  const [name, ...groupParts] = w.split('.');
  const group = groupParts.join('.');
  return refs.find(
    (r) =>
      (group === '' || r.group === group || `${r.version}.${r.group}` === group) &&
      (r.plural === name || r.singular === name || r.shortNames.includes(name!) || r.kind.toLowerCase() === name),
  );
}

export class ResourceResolver {
  private core?: Promise<ResourceRef[]>;
  private groups?: Promise<ResourceRef[]>;

  constructor(private readonly transport: Transport) {}

  private coreRefs(): Promise<ResourceRef[]> {
    this.core ??= this.transport.requestJson<APIResourceList>('GET', '/api/v1').then((l) => refsFromList(l, 'v1'));
    return this.core;
  }

  private groupRefs(): Promise<ResourceRef[]> {
    this.groups ??= (async () => {
      let groups: APIGroupList;
      try {
        groups = await this.transport.requestJson<APIGroupList>('GET', '/apis');
      } catch {
        return [];
      }
      const out: ResourceRef[] = [];
      for (const g of groups.groups ?? []) {
        const gv = g.preferredVersion?.groupVersion ?? g.versions?.[0]?.groupVersion;
        if (!gv) continue;
        try {
          out.push(...refsFromList(await this.transport.requestJson<APIResourceList>('GET', `/apis/${gv}`), gv));
        } catch {
          /* a group that does not answer is left out, as kubectl does */
        }
      }
      return out;
    })();
    return this.groups;
  }

  /** The resource a command-line word names; `the server doesn't have a resource type "foo"` otherwise. */
  async forArg(word: string): Promise<ResourceRef> {
    const found = matchResource(await this.coreRefs(), word) ?? matchResource(await this.groupRefs(), word);
    if (!found) throw new CliError(`the server doesn't have a resource type "${word}"`);
    return found;
  }

  /** The resources of a category such as `all` (get all); empty when the word is not a category. */
  async category(word: string): Promise<ResourceRef[]> {
    const w = word.toLowerCase();
    const core = (await this.coreRefs()).filter((r) => r.categories.includes(w));
    if (core.length > 0) return core;
    return (await this.groupRefs()).filter((r) => r.categories.includes(w));
  }

  /** The resource of a manifest's apiVersion and kind. */
  async forKind(apiVersion: string, kind: string): Promise<ResourceRef | undefined> {
    const refs = apiVersion.includes('/') ? await this.groupRefs() : await this.coreRefs();
    const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/', 2) as [string, string]) : ['', apiVersion];
    return refs.find((r) => r.group === group && r.version === version && r.kind === kind);
  }
}
