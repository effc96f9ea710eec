import { describe, expect, it } from 'vitest';
import {
  BadRequestError,
  compileSelectors,
  fieldSelectorMatches,
  formatFieldSelector,
  formatLabelSelector,
  labelSelectorFromObject,
  labelSelectorMatches,
  parseFieldSelector,
  parseLabelSelector,
} from '../../api/index.js';

const LABELS = { app: 'web', tier: 'frontend', env: 'prod', version: '3' };

describe('[api] label selectors', () => {
  it.each<[string, boolean]>([
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app = web', true],
    ['app=db', false],
    ['app!=db', true],
    ['app!=web', false],
    ['missing!=x', true],
    ['app=web,tier=frontend', true],
    ['app=web,tier=backend', false],
    ['env in (prod,staging)', true],
    ['env in (dev, staging)', false],
    ['env notin (dev,staging)', true],
    ['env notin (prod)', false],
    ['missing notin (prod)', true],
    ['missing in (prod)', false],
    ['app', true],
    ['missing', false],
    ['!missing', true],
    ['!app', false],
    ['version>2', true],
    ['version<3', false],
    ['app=web, env in (prod), !canary, tier', true],
    ['empty=', false],
    ['!empty', true],
  ])('%j matches the labels: %s', (sel, matches) => {
    expect(labelSelectorMatches(parseLabelSelector(sel), LABELS)).toBe(matches);
  });

  it('matches a selector for an empty value against an empty label', () => {
    expect(labelSelectorMatches(parseLabelSelector('x='), { x: '' })).toBe(true);
    expect(labelSelectorMatches(parseLabelSelector('app'), undefined)).toBe(false);
    expect(labelSelectorMatches(parseLabelSelector('!app'), undefined)).toBe(true);
  });

  it.each<[string, string]>([
    ['app=web,', 'unable to parse label selector "app=web,": found end of string, expected a label key after \',\''],
    ['=web', 'unable to parse label selector "=web": found \'=\', expected a label key'],
    ['app in web', 'unable to parse label selector "app in web": found \'web\', expected \'(\''],
    ['app in (a,b', 'unable to parse label selector "app in (a,b": found end of string, expected \',\' or \')\''],
    ['app web', 'unable to parse label selector "app web": found \'web\', expected one of \'=\', \'==\', \'!=\', \'in\', \'notin\', \',\''],
    ['app=a b', 'unable to parse label selector "app=a b": found \'b\', expected \',\''],
    ['app in ()', 'unable to parse label selector "app in ()": for \'in\', \'notin\' operators, values set can\'t be empty'],
    ['version>x', 'unable to parse label selector "version>x": found \'x\', expected an integer'],
    [
      'bad key!=x',
      'unable to parse label selector "bad key!=x": found \'key\', expected one of \'=\', \'==\', \'!=\', \'in\', \'notin\', \',\'',
    ],
    [
      'app=web server',
      'unable to parse label selector "app=web server": found \'server\', expected \',\'',
    ],
    [
      'app=-web',
      `unable to parse label selector "app=-web": invalid label value "-web": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
    ],
    ['-app=x', `unable to parse label selector "-app=x": invalid label key "-app": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`],
  ])('refuses %j', (sel, message) => {
    expect(() => parseLabelSelector(sel)).toThrow(BadRequestError);
    expect(() => parseLabelSelector(sel)).toThrow(message);
  });

  it('prints a parsed selector back', () => {
    expect(formatLabelSelector(parseLabelSelector('app=web, env in (staging,prod),!canary,tier,x notin (a)'))).toBe(
      'app=web,env in (prod,staging),!canary,tier,x!=a',
    );
  });

  it('builds selectors from LabelSelector objects', () => {
    const sel = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'staging'] },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    });
    expect(labelSelectorMatches(sel, LABELS)).toBe(true);
    expect(labelSelectorMatches(sel, { ...LABELS, canary: 'yes' })).toBe(false);
    expect(labelSelectorMatches(labelSelectorFromObject({}), {})).toBe(true);
    expect(labelSelectorMatches(labelSelectorFromObject(undefined), LABELS)).toBe(false);
  });

  it('refuses LabelSelector objects with bad operators or values', () => {
    expect(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In' }] })).toThrow(
      "values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
    );
    expect(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] })).toThrow(
      "values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
    );
    expect(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Like' as 'In', values: ['x'] }] })).toThrow(
      '"Like" is not a valid label selector operator',
    );
  });
});

const POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
  spec: { nodeName: 'node-1', schedulerName: 'default-scheduler', restartPolicy: 'Always', containers: [] },
  status: { phase: 'Running', podIP: '10.244.1.5' },
};
const UNSCHEDULED = { ...POD, metadata: { name: 'db', namespace: 'default' }, spec: { containers: [] }, status: { phase: 'Pending' } };
const EVENT = {
  apiVersion: 'v1',
  kind: 'Event',
  metadata: { name: 'web.1', namespace: 'default' },
  involvedObject: { kind: 'Pod', name: 'web', namespace: 'default', uid: 'u-1' },
  reason: 'Scheduled',
  type: 'Normal',
  source: { component: 'default-scheduler' },
};

describe('[api] field selectors', () => {
  it.each<[string, object, boolean]>([
    ['metadata.name=web', POD, true],
    ['metadata.name==web', POD, true],
    ['metadata.name!=web', POD, false],
    ['metadata.namespace=default', POD, true],
    ['spec.nodeName=node-1', POD, true],
    ['spec.nodeName=', POD, false],
    ['spec.nodeName=', UNSCHEDULED, true],
    ['spec.nodeName!=', UNSCHEDULED, false],
    ['status.phase=Running', POD, true],
    ['status.phase!=Running,status.phase!=Pending', UNSCHEDULED, false],
    ['spec.schedulerName=default-scheduler', POD, true],
    ['status.podIP=10.244.1.5', POD, true],
    ['metadata.name=web,spec.nodeName=node-2', POD, false],
    ['involvedObject.kind=Pod,involvedObject.name=web', EVENT, true],
    ['involvedObject.namespace=default,involvedObject.uid=u-1', EVENT, true],
    ['involvedObject.name=db', EVENT, false],
    ['reason=Scheduled,type=Normal', EVENT, true],
    ['type=Warning', EVENT, false],
    ['source=default-scheduler', EVENT, true],
    ['', POD, true],
  ])('%j matches %#: %s', (sel, obj, matches) => {
    const kind = (obj as { kind: string }).kind;
    expect(fieldSelectorMatches(parseFieldSelector(sel, kind), obj as Record<string, unknown>)).toBe(matches);
  });

  it('refuses fields a kind does not support', () => {
    expect(() => parseFieldSelector('foo=bar', 'Pod')).toThrow(new BadRequestError('field label not supported: foo'));
    expect(() => parseFieldSelector('reason=x', 'Pod')).toThrow('field label not supported: reason');
    expect(() => parseFieldSelector('spec.nodeName=x', 'Event')).toThrow('field label not supported: spec.nodeName');
    expect(() => fieldSelectorMatches(parseFieldSelector('spec.foo=1'), POD)).toThrow('field label not supported: spec.foo');
    expect(parseFieldSelector('spec.unschedulable=true', 'Node').requirements).toHaveLength(1);
    expect(parseFieldSelector('status.phase=Active', 'Namespace').requirements).toHaveLength(1);
  });

  it.each<[string, string]>([
    ['metadata.name', "invalid selector: 'metadata.name'; can't understand 'metadata.name'"],
    ['=web', 'invalid field selector "=web": missing field name'],
    ['metadata.name=a,,x=b', 'invalid field selector "metadata.name=a,,x=b": empty requirement'],
    ['metadata.name=a=b', 'invalid field selector "metadata.name=a=b": unescaped = in value'],
    ['metadata.name=a\\q', 'invalid field selector "metadata.name=a\\q": invalid escape sequence'],
  ])('refuses the malformed selector %j', (sel, message) => {
    expect(() => parseFieldSelector(sel)).toThrow(message);
  });

  it('unescapes values and prints them escaped again', () => {
    const sel = parseFieldSelector('metadata.name=a\\,b\\=c');
    expect(sel.requirements).toEqual([{ field: 'metadata.name', operator: '=', value: 'a,b=c' }]);
    expect(formatFieldSelector(sel)).toBe('metadata.name=a\\,b\\=c');
  });

  it('compiles both kinds of selectors into one list filter', () => {
    const filter = compileSelectors('Pod', { labelSelector: 'app=web', fieldSelector: 'spec.nodeName=node-1' })!;
    expect(filter(POD)).toBe(true);
    expect(filter(UNSCHEDULED)).toBe(false);
    expect(compileSelectors('Pod', {})).toBeUndefined();
    expect(compileSelectors('Pod', { labelSelector: '', fieldSelector: '' })).toBeUndefined();
    expect(() => compileSelectors('Event', { fieldSelector: 'status.phase=Running' })).toThrow('field label not supported: status.phase');
  });
});
