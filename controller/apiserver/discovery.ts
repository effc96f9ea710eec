// Discovery documents: /api, /api/v1, /apis, /version, and the empty OpenAPI
// document kubectl's client-side validation needs.
import { RESOURCES } from '../../api/index.js';

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
}

/** The APIResourceList of the core group, with the subresources we serve. */
export function coreResourceList() {
  const resources: ApiResource[] = [];
  for (const r of RESOURCES) {
    const main: ApiResource = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: [...r.verbs] };
    if (r.shortNames.length > 0) main.shortNames = [...r.shortNames];
    if (r.kind === 'Pod') main.categories = ['all'];
    resources.push(main);
    if (r.kind === 'Pod') {
      resources.push({ name: 'pods/binding', singularName: '', namespaced: true, kind: 'Binding', verbs: ['create'] });
      resources.push({ name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
    }
    if (r.kind === 'Pod' || r.kind === 'Node' || r.kind === 'Namespace') {
      resources.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'v1', resources };
}

export function apiGroupList() {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] as unknown[] };
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
