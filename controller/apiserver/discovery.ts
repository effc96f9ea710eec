// Discovery documents: /api, /api/v1, /apis, /apis/<group>[/<version>],
// /version, and the empty OpenAPI document kubectl's client-side validation
// needs. All from the kind registry (api/registry.ts).
import { REGISTRY, type KindDescriptor } from '../../api/index.js';

/** The empty OpenAPI v2 document in protobuf (field 1 "swagger" = "2.0"). */
export const EMPTY_OPENAPI_PROTOBUF = Buffer.from([0x0a, 0x03, 0x32, 0x2e, 0x30]);

export const GIT_VERSION = 'v1.28.0-flotilla.0.1.0';

export function apiVersions(serverAddress: string) {
  return {
    kind: 'APIVersions',
    apiVersion: 'v1',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  group?: string;
  version?: string;
}

/** What each subresource serves: its verbs and the kind its body is. */
function subresourceEntry(d: KindDescriptor, sub: string): ApiResource {
  const base = { name: `${d.plural}/${sub}`, singularName: '', namespaced: d.namespaced };
  switch (sub) {
    case 'status':
      return { ...base, kind: d.kind, verbs: ['get', 'patch', 'update'] };
    case 'binding':
      return { ...base, kind: 'Binding', verbs: ['create'] };
    case 'log':
      return { ...base, kind: d.kind, verbs: ['get'] };
    case 'eviction':
      return { ...base, kind: 'Eviction', group: 'policy', version: 'v1', verbs: ['create'] };
    case 'finalize':
      return { ...base, kind: d.kind, verbs: ['update'] };
    case 'scale':
      return { ...base, kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] };
    default:
      return { ...base, kind: d.kind, verbs: ['get'] };
  }
}

/** The APIResourceList of one group version (`v1` for the core group). */
export function resourceList(group: string, version: string) {
  const resources: ApiResource[] = [];
  for (const d of REGISTRY.ofGroupVersion(group, version)) {
    const main: ApiResource = { name: d.plural, singularName: d.singular, namespaced: d.namespaced, kind: d.kind, verbs: [...d.verbs] };
    if (d.shortNames.length > 0) main.shortNames = [...d.shortNames];
    if (d.categories.length > 0) main.categories = [...d.categories];
    resources.push(main);
    for (const sub of d.subresources) resources.push(subresourceEntry(d, sub));
  }
  const gv = REGISTRY.groupVersions().find((g) => g.group === group && g.version === version);
  for (const x of gv?.extra ?? []) resources.push({ ...x, verbs: [...x.verbs] });
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? version : `${group}/${version}`, resources };
}

/** The APIResourceList of the core group, with the subresources we serve. */
export function coreResourceList() {
  return resourceList('', 'v1');
}

/** One APIGroup: its versions, the first preferred. */
export function apiGroup(name: string) {
  const versions = REGISTRY.groupVersions()
    .filter((g) => g.group === name)
    .map((g) => ({ groupVersion: g.groupVersion, version: g.version }));
  if (versions.length === 0) return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions, preferredVersion: versions[0]! };
}

/** The APIGroupList of /apis: every named group the registry serves. */
export function apiGroupList() {
  const names = [...new Set(REGISTRY.groupVersions().filter((g) => g.group !== '').map((g) => g.group))];
  const groups = names.map((n) => {
    const g = apiGroup(n)!;
    return { name: g.name, versions: g.versions, preferredVersion: g.preferredVersion };
  });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function versionInfo() {
  return {
    major: '1',
    minor: '28',
    gitVersion: GIT_VERSION,
    gitCommit: '',
    gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z',
    goVersion: `node${process.versions.node}`,
    compiler: 'tsc',
    platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
  };
}
