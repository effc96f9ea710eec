// -o yaml|json|name: one object as itself, several wrapped in a `List`, as kubectl does.
import { stringify as toYaml } from 'yaml';
import type { KubeObject } from '../../api/index.js';

export type OutputFormat = 'table' | 'wide' | 'yaml' | 'json' | 'name';

export function parseOutputFormat(value: string | undefined): OutputFormat | undefined {
  if (value === undefined || value === '') return 'table';
  if (value === 'wide' || value === 'yaml' || value === 'json' || value === 'name') return value;
  return undefined;
}

/** What -o yaml/json prints: the object itself, or a v1 List of them. */
export function listOrSingle(objects: KubeObject[], single: boolean): unknown {
  if (single && objects.length === 1) return objects[0];
  return { apiVersion: 'v1', items: objects, kind: 'List', metadata: { resourceVersion: '' } };
}

export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 4) + '\n';
}

export function formatYaml(value: unknown): string {
  return toYaml(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** `pod/web`: the singular resource name and the object name. */
export function formatName(singular: string, obj: KubeObject): string {
  return `${singular}/${obj.metadata.name ?? ''}\n`;
}
