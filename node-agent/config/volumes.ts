// The files of a configMap or secret volume, from the object as read, as the
// kubelet's volume plugins make their payload: every key (data and binaryData
// of a ConfigMap, data of a Secret) as a file named after it with defaultMode,
// or with `items` only the listed keys at their paths with their modes. Pure.
import type { ConfigMap, ConfigMapVolumeSource, KeyToPath, Secret, SecretVolumeSource, Volume } from '../../api/index.js';
import type { VolumeFile } from '../sandbox/atomic-writer.js';

/** Files 0644 unless the volume says otherwise (the API defaults defaultMode so too). */
export const DEFAULT_CONFIG_FILE_MODE = 0o644;

export type PayloadResult = { ok: true; files: Map<string, VolumeFile> } | { ok: false; message: string };

/** A pod volume whose files come from a ConfigMap or Secret. */
export type ConfigVolume = { name: string; kind: 'configMap'; source: ConfigMapVolumeSource } | { name: string; kind: 'secret'; source: SecretVolumeSource };

/** The pod's configMap and secret volumes. */
export function configVolumes(volumes: readonly Volume[] | undefined): ConfigVolume[] {
  const out: ConfigVolume[] = [];
  for (const v of volumes ?? []) {
    if (v.configMap) out.push({ name: v.name, kind: 'configMap', source: v.configMap });
    else if (v.secret) out.push({ name: v.name, kind: 'secret', source: v.secret });
  }
  return out;
}

function project(all: Map<string, Buffer>, items: readonly KeyToPath[] | undefined, defaultMode: number, optional: boolean, missingKey: (k: string) => string): PayloadResult {
  const files = new Map<string, VolumeFile>();
  if (!items || items.length === 0) {
    for (const [k, data] of all) files.set(k, { data, mode: defaultMode });
    return { ok: true, files };
  }
  for (const it of items) {
    const data = all.get(it.key);
    if (data === undefined) {
      if (optional) continue;
      return { ok: false, message: missingKey(it.key) };
    }
    files.set(it.path.replace(/\/+$/, ''), { data, mode: it.mode ?? defaultMode });
  }
  return { ok: true, files };
}

/** A configMap volume's files; CM undefined: the ConfigMap does not exist (an empty volume when optional). */
export function configMapPayload(src: ConfigMapVolumeSource, cm: ConfigMap | undefined): PayloadResult {
  const optional = src.optional === true;
  if (!cm) return optional ? { ok: true, files: new Map() } : { ok: false, message: `configmap "${src.name}" not found` };
  const all = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) all.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) all.set(k, Buffer.from(v, 'base64'));
  return project(all, src.items, src.defaultMode ?? DEFAULT_CONFIG_FILE_MODE, optional, (k) => `configmap references non-existent config key: ${k}`);
}

/** A secret volume's files; S undefined: the Secret does not exist (an empty volume when optional). */
export function secretPayload(src: SecretVolumeSource, s: Secret | undefined): PayloadResult {
  const optional = src.optional === true;
  if (!s) return optional ? { ok: true, files: new Map() } : { ok: false, message: `secret "${src.secretName}" not found` };
  const all = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.data ?? {})) all.set(k, Buffer.from(v, 'base64'));
  return project(all, src.items, src.defaultMode ?? DEFAULT_CONFIG_FILE_MODE, optional, (k) => `references non-existent secret key: ${k}`);
}

/** The kubelet's FailedMount event message. */
export function failedMountMessage(volume: string, message: string): string {
  return `MountVolume.SetUp failed for volume "${volume}" : ${message}`;
}
