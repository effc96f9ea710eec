// Every example in manifests/ decodes and passes the API server's defaulting and
// validation (test/e2e applies them to a cluster and waits for Running).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeManifests, defaultObject, validateObject, type Pod } from '../../api/index.js';
import { REPO_ROOT } from '../helpers/lab.js';

const dir = join(REPO_ROOT, 'manifests');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

describe('[manifests] examples', () => {
  it('there are examples, demo.yaml among them', () => {
    expect(files).toContain('demo.yaml');
    expect(files.length).toBeGreaterThanOrEqual(4);
  });

  for (const f of files) {
    it(`${f} decodes and every object is valid after defaulting`, () => {
      const docs = decodeManifests(readFileSync(join(dir, f), 'utf8'), f);
      expect(docs.length).toBeGreaterThan(0);
      for (const d of docs) {
        const obj = defaultObject(d.object);
        expect(validateObject(obj), `${f}: ${obj.kind}/${obj.metadata?.name}`).toEqual([]);
      }
    });
  }

  it('demo.yaml puts one web server on each of h1, h2 and h3, and a client', () => {
    const pods = decodeManifests(readFileSync(join(dir, 'demo.yaml'), 'utf8'), 'demo.yaml')
      .map((d) => d.object as unknown as Pod)
      .filter((o) => o.kind === 'Pod');
    const web = pods.filter((p) => p.metadata.labels?.app === 'web');
    expect(web.map((p) => p.spec.nodeSelector?.['kubernetes.io/hostname']).sort()).toEqual(['h1', 'h2', 'h3']);
    expect(pods.some((p) => p.metadata.name === 'client')).toBe(true);
  });
});
