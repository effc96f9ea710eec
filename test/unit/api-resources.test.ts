import { describe, expect, it } from 'vitest';
import { BadRequestError, lookupResource, RESOURCES, resourceFor, resourceForKind, resourceForObject } from '../../api/index.js';

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
  ])('finds %s as %s (kind %s, namespaced %s)', (name, plural, kind, namespaced) => {
    const r = resourceFor(name);
    expect(r.plural).toBe(plural);
    expect(r.kind).toBe(kind);
    expect(r.namespaced).toBe(namespaced);
    expect(r.listKind).toBe(`${kind}List`);
  });

  it('lists pods, nodes, namespaces and events with their short names', () => {
    expect(RESOURCES.map((r) => [r.plural, r.singular, r.shortNames])).toEqual([
      ['pods', 'pod', ['po']],
      ['nodes', 'node', ['no']],
      ['namespaces', 'namespace', ['ns']],
      ['events', 'event', ['ev']],
    ]);
  });

  it('names an unknown resource type', () => {
    expect(lookupResource('deployments')).toBeUndefined();
    expect(() => resourceFor('deployments')).toThrow(new BadRequestError('the server doesn\'t have a resource type "deployments"'));
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
