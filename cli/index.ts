// Public entry of cli/: `flotctl`, the kubectl-like client, and the pieces other
// folders and tests may reuse (the REST client, kubeconfig loading, printers).
export const COMPONENT = 'cli';
export { runCli, buildProgram } from './program.js';
export { RestClient, buildUrl, connectionErrorFor, CLIENT_VERSION, type Transport, type Query, type RequestOptions } from './client.js';
export {
  loadKubeconfig,
  parseKubeconfig,
  mergeKubeconfigs,
  resolveConnection,
  defaultKubeconfigPaths,
  type ConnectionConfig,
  type ConnectionFlags,
  type KubeconfigFile,
} from './kubeconfig.js';
export { ApiStatusError, ConnectionError, CliError, UsageError, formatError, isNotFound } from './errors.js';
export { ResourceResolver, resourcePath, type ResourceRef } from './resources.js';
export { threeWayMergePatch, withLastApplied, lastAppliedOf, LAST_APPLIED_ANNOTATION } from './apply-patch.js';
export { formatTable, tabwrite } from './printers/tabwriter.js';
export { humanDuration } from './printers/age.js';
