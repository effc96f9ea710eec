import { describe, expect, it } from 'vitest';
import { BadRequestError, KindRegistry, REGISTRY, configMapKind, defineKind, lookupResource, resourceFor, resourceForKind, resourceForObject, type KindSpec } from '../../api/index.js';
import { FALLBACK } from '../../api/kinds/common.js';

describe('[api] resource registry', () => {
  it.each([
    ['pods', 'pods', 'Pod', true],
    ['po', 'pods', 'Pod', true],
    ['pod', 'pods', 'Pod', true],
    ['Pod', 'pods', 'Pod', true],
    ['no', 'nodes', 'Node', false],
    ['nodes', 'nodes', 'Node', false],
    ['ns', 'namespaces', 'Namespace', false],
    ['namespace', 'namespaces', 'Namespace', false],
    ['ev', 'events', 'Event', true],
    ['events', 'events', 'Event', true],
    ['cm', 'configmaps', 'ConfigMap', true],
    ['configmap', 'configmaps', 'ConfigMap', true],
    ['secrets', 'secrets', 'Secret', true],
    ['secret', 'secrets', 'Secret', true],
  ])('finds %s as %s (kind %s, namespaced %s)', (name, plural, kind, namespaced) => {
    const r = resourceFor(name);
    expect(r.plural).toBe(plural);
    expect(r.kind).toBe(kind);
    expect(r.namespaced).toBe(namespaced);
    expect(r.listKind).toBe(`${kind}List`);
  });

  it('lists the core kinds and the workload kinds with their short names', () => {
    expect(REGISTRY.all().map((r) => [r.plural, r.singular, r.shortNames])).toEqual([
      ['pods', 'pod', ['po']],
      ['nodes', 'node', ['no']],
      ['namespaces', 'namespace', ['ns']],
      ['events', 'event', ['ev']],
      ['configmaps', 'configmap', ['cm']],
      ['secrets', 'secret', []],
      ['services', 'service', ['svc']],
      ['endpoints', 'endpoints', ['ep']],
      ['daemonsets', 'daemonset', ['ds']],
      ['replicasets', 'replicaset', ['rs']],
      ['deployments', 'deployment', ['deploy']],
      ['controllerrevisions', 'controllerrevision', []],
      ['jobs', 'job', []],
      ['cronjobs', 'cronjob', ['cj']],
      ['poddisruptionbudgets', 'poddisruptionbudget', ['pdb']],
      ['endpointslices', 'endpointslice', []],
    ]);
  });

  it('serves the core group and apps, batch, discovery.k8s.io, policy and flotilla.io, each v1', () => {
    expect(REGISTRY.groupVersions().map((g) => g.groupVersion)).toEqual(['v1', 'apps/v1', 'batch/v1', 'discovery.k8s.io/v1', 'policy/v1', 'flotilla.io/v1']);
  });

  const widget: KindSpec = { group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true, validate: () => undefined, schema: { spec: 'any' } };

  it('registers a new kind with one descriptor: found by name, kind and URL, in its own group', () => {
    const reg = new KindRegistry().register(defineKind(widget, FALLBACK));
    const w = reg.lookup('widgets.example.com')!;
    expect([w.kind, w.apiVersion, w.listKind, w.singular]).toEqual(['Widget', 'example.com/v1', 'WidgetList', 'widget']);
    expect(reg.forResource('example.com', 'v1', 'widgets')).toBe(w);
    expect(reg.forKind('example.com/v1', 'Widget')).toBe(w);
    expect(reg.hasGroupVersion('example.com', 'v1')).toBe(true);
  });

  it('cannot define or register a kind without a validator', () => {
    const { validate: _v, ...noValidator } = widget;
    expect(() => defineKind(noValidator as KindSpec, FALLBACK)).toThrow('kind descriptor Widget: a validate function is required');
    expect(() => new KindRegistry().register({ ...configMapKind, validate: undefined as never })).toThrow('kind ConfigMap: cannot register a kind without a validator');
  });

  it('refuses a second kind at the same resource or kind name', () => {
    const reg = new KindRegistry().register(configMapKind);
    expect(() => reg.register(configMapKind)).toThrow('resource configmaps is already registered in v1');
  });

  it('names an unknown resource type', () => {
    expect(lookupResource('statefulsets')).toBeUndefined();
    expect(() => resourceFor('statefulsets')).toThrow(new BadRequestError('the server doesn\'t have a resource type "statefulsets"'));
  });

  it('names an unknown kind or apiVersion', () => {
    expect(resourceForKind('Pod').plural).toBe('pods');
    expect(() => resourceForKind('Foo')).toThrow('no kind "Foo" is registered for version "v1"');
    expect(() => resourceForKind('Pod', 'apps/v1')).toThrow('no kind "Pod" is registered for version "apps/v1"');
  });

  it.each([
    [null, 'Object is not a JSON or YAML mapping'],
    [[1], 'Object is not a JSON or YAML mapping'],
    [{ apiVersion: 'v1' }, "Object 'Kind' is missing"],
    [{ apiVersion: 'v1', kind: 3 }, "Object 'Kind' must be a string"],
    [{ kind: 'Pod' }, "Object 'apiVersion' is missing"],
    [{ kind: 'Pod', apiVersion: 1 }, "Object 'apiVersion' must be a string"],
    [{ kind: 'Foo', apiVersion: 'v1' }, 'no kind "Foo" is registered for version "v1"'],
    [{ kind: 'Pod', apiVersion: 'v2' }, 'no kind "Pod" is registered for version "v2"'],
  ])('refuses the body %j: %s', (body, message) => {
    expect(() => resourceForObject(body)).toThrow(BadRequestError);
    expect(() => resourceForObject(body)).toThrow(message);
  });
});
