// What a pod's containers get from ConfigMaps, Secrets and the downward API:
// fetches the objects through the ConfigObjectSource (the controller, cached),
// then hands them to the pure pieces (env.ts, volumes.ts). A missing object or
// key becomes a message naming it; the agent shows it on the pod.
import { toFlotillaError, type ConfigMap, type Container, type KubeObject, type Pod, type Secret } from '../../api/index.js';
import type { ConfigResource } from '../../api/agent-protocol.js';
import { pullCredentials, type PullCredentials, type PullSecretProblem } from '../images/index.js';
import type { VolumeFile } from '../sandbox/atomic-writer.js';
import { containerConfigReferences, resolveEnv, type DownwardContext, type EnvResult } from './env.js';
import type { ConfigObjectSource } from './source.js';
import { configMapPayload, configVolumes, secretPayload } from './volumes.js';

export interface PodVolumesResult {
  /** The files of each configMap/secret volume that could be made, by volume name. */
  contents: Map<string, Map<string, VolumeFile>>;
  /** The volumes that could not (a FailedMount each), with why. */
  problems: { volume: string; message: string }[];
}

const SINGULAR: Record<ConfigResource, string> = { configmaps: 'configMap', secrets: 'secret' };

export class PodConfig {
  constructor(private readonly source: ConfigObjectSource) {}

  private async read<T extends KubeObject>(resource: ConfigResource, pod: Pod, name: string): Promise<{ value: T | undefined } | { error: string }> {
    try {
      return { value: await this.source.get<T>(resource, pod.metadata.namespace ?? '', name, pod) };
    } catch (e) {
      return { error: `couldn't get ${SINGULAR[resource]} ${pod.metadata.namespace}/${name}: ${toFlotillaError(e).message}` };
    }
  }

  /** Whether the pod has configMap or secret volumes (nothing to fetch or write otherwise). */
  static hasConfigVolumes(pod: Pod): boolean {
    return configVolumes(pod.spec.volumes).length > 0;
  }

  /** The files of the pod's configMap and secret volumes, read now (within the source's TTL). */
  async volumes(pod: Pod): Promise<PodVolumesResult> {
    const out: PodVolumesResult = { contents: new Map(), problems: [] };
    await Promise.all(
      configVolumes(pod.spec.volumes).map(async (v) => {
        const r =
          v.kind === 'configMap'
            ? await this.read<ConfigMap>('configmaps', pod, v.source.name)
            : await this.read<Secret>('secrets', pod, v.source.secretName);
        if ('error' in r) {
          out.problems.push({ volume: v.name, message: r.error });
          return;
        }
        const p = v.kind === 'configMap' ? configMapPayload(v.source, r.value as ConfigMap | undefined) : secretPayload(v.source, r.value as Secret | undefined);
        if (p.ok) out.contents.set(v.name, p.files);
        else out.problems.push({ volume: v.name, message: p.message });
      }),
    );
    out.problems.sort((a, b) => (a.volume < b.volume ? -1 : 1));
    return out;
  }

  /**
   * The registry credentials of the pod's imagePullSecrets, read now (undefined
   * when it has none). A Secret that is missing, unreadable or of the wrong type
   * is a problem: the pull goes on without it, as the kubelet's does.
   */
  async pullCredentials(pod: Pod): Promise<{ lookup: PullCredentials; problems: PullSecretProblem[] } | undefined> {
    const names = [...new Set((pod.spec.imagePullSecrets ?? []).map((s) => s?.name).filter((n): n is string => typeof n === 'string' && n !== ''))];
    if (names.length === 0) return undefined;
    const secrets: Secret[] = [];
    const problems: PullSecretProblem[] = [];
    for (const name of names) {
      const r = await this.read<Secret>('secrets', pod, name);
      if ('error' in r) problems.push({ secret: name, message: r.error });
      else if (!r.value) problems.push({ secret: name, message: `secret "${name}" not found` });
      else secrets.push(r.value);
    }
    const c = pullCredentials(secrets);
    return { lookup: c.lookup, problems: [...problems, ...c.problems] };
  }

  /** The container's own environment (see env.ts), with what it references read now. */
  async env(pod: Pod, container: Container, ctx: DownwardContext): Promise<EnvResult> {
    const refs = containerConfigReferences(container);
    const configmaps = new Map<string, ConfigMap | undefined>();
    const secrets = new Map<string, Secret | undefined>();
    const errors: string[] = [];
    await Promise.all([
      ...[...refs.configmaps].map(async (n) => {
        const r = await this.read<ConfigMap>('configmaps', pod, n);
        if ('error' in r) errors.push(r.error);
        else configmaps.set(n, r.value);
      }),
      ...[...refs.secrets].map(async (n) => {
        const r = await this.read<Secret>('secrets', pod, n);
        if ('error' in r) errors.push(r.error);
        else secrets.set(n, r.value);
      }),
    ]);
    if (errors.length > 0) return { ok: false, message: errors.sort().join('; ') };
    return resolveEnv(pod, container, { configmaps, secrets }, ctx);
  }
}
