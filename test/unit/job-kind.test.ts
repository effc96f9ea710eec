// The Job and CronJob kinds: kube-apiserver's defaults, the generated selector
// and labels, validation wording (paths and messages verbatim) and kubectl's columns.
import { describe, expect, it } from 'vitest';
import { InvalidError, assertValid, cronJobKind, defaultObject, jobKind, rfc3339InZone, type KubeObject } from '../../api/index.js';

type Obj = Record<string, any>;

function job(mutate: (j: Obj) => void = () => {}): Obj {
  const j: Obj = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'pi', namespace: 'default' },
    spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'pi', image: 'busybox', command: ['sh', '-c', 'exit 0'] }] } } },
  };
  mutate(j);
  return j;
}

function cronjob(mutate: (c: Obj) => void = () => {}): Obj {
  const c: Obj = {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'hello', namespace: 'default' },
    spec: {
      schedule: '* * * * *',
      jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'hello', image: 'busybox', command: ['sh', '-c', 'date'] }] } } } },
    },
  };
  mutate(c);
  return c;
}

/** What the API server stores on create: defaults, the create strategy, validation. */
function created(o: Obj): Obj {
  const d = defaultObject(o) as Obj;
  (d.kind === 'Job' ? jobKind : cronJobKind).strategy.prepareForCreate?.(d);
  assertValid(d as KubeObject);
  return d;
}

function errorOf(o: Obj, old?: Obj): string {
  try {
    if (old) assertValid(defaultObject(o) as KubeObject, old as KubeObject);
    else created(o);
    return '';
  } catch (e) {
    if (e instanceof InvalidError) return e.message;
    throw e;
  }
}

describe('Job defaults (as kube-apiserver)', () => {
  it('completions and parallelism 1, backoffLimit 6, NonIndexed, not suspended; a generated selector and labels', () => {
    const j = created(job());
    expect(j.spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6, completionMode: 'NonIndexed', suspend: false, podReplacementPolicy: 'TerminatingOrFailed' });
    expect(j.spec.manualSelector).toBeUndefined();
    const uid = j.metadata.uid;
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(j.spec.selector).toEqual({ matchLabels: { 'batch.kubernetes.io/controller-uid': uid } });
    expect(j.spec.template.metadata.labels).toEqual({
      'batch.kubernetes.io/controller-uid': uid,
      'batch.kubernetes.io/job-name': 'pi',
      'controller-uid': uid,
      'job-name': 'pi',
    });
  });
  it('parallelism alone leaves completions unset (a work queue)', () => {
    const j = created(job((x) => (x.spec.parallelism = 3)));
    expect(j.spec.parallelism).toBe(3);
    expect(j.spec.completions).toBeUndefined();
  });
  it('a podFailurePolicy makes podReplacementPolicy Failed', () => {
    const j = created(job((x) => (x.spec.podFailurePolicy = { rules: [{ action: 'FailJob', onExitCodes: { operator: 'In', values: [42] } }] })));
    expect(j.spec.podReplacementPolicy).toBe('Failed');
  });
});

describe('Job validation (kube-apiserver wording)', () => {
  const cases: [string, (j: Obj) => void, string][] = [
    ['a valid job', () => {}, ''],
    ['restartPolicy Always', (j) => (j.spec.template.spec.restartPolicy = 'Always'), 'Job.batch "pi" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'],
    ['no restartPolicy (defaults to Always)', (j) => delete j.spec.template.spec.restartPolicy, 'Job.batch "pi" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'],
    ['negative completions', (j) => (j.spec.completions = -1), 'Job.batch "pi" is invalid: spec.completions: Invalid value: -1: must be greater than or equal to 0'],
    ['negative parallelism', (j) => (j.spec.parallelism = -2), 'Job.batch "pi" is invalid: spec.parallelism: Invalid value: -2: must be greater than or equal to 0'],
    ['negative backoffLimit', (j) => (j.spec.backoffLimit = -1), 'Job.batch "pi" is invalid: spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0'],
    ['Indexed without completions', (j) => Object.assign(j.spec, { completionMode: 'Indexed', parallelism: 2 }), 'Job.batch "pi" is invalid: spec.completions: Required value: when completion mode is Indexed'],
    ['an unknown completionMode', (j) => (j.spec.completionMode = 'Sometimes'), 'Job.batch "pi" is invalid: spec.completionMode: Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"'],
    ['a selector naming another uid', (j) => (j.spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': 'x' } }), 'Job.batch "pi" is invalid: [spec.selector: Invalid value: {"matchLabels":{"batch.kubernetes.io/controller-uid":"x"}}: `selector` not auto-generated, spec.template.metadata.labels: Invalid value: '],
    [
      'a manual selector not matching the template',
      (j) => Object.assign(j.spec, { manualSelector: true, selector: { matchLabels: { a: 'b' } } }),
      'Job.batch "pi" is invalid: spec.template.metadata.labels: Invalid value: {}: `selector` does not match template `labels`',
    ],
    [
      'a podFailurePolicy with restartPolicy OnFailure',
      (j) => {
        j.spec.template.spec.restartPolicy = 'OnFailure';
        j.spec.podFailurePolicy = { rules: [{ action: 'Ignore', onExitCodes: { operator: 'In', values: [1] } }] };
      },
      'Job.batch "pi" is invalid: spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified',
    ],
    ['exit code 0 with In', (j) => (j.spec.podFailurePolicy = { rules: [{ action: 'Count', onExitCodes: { operator: 'In', values: [0] } }] }), 'Job.batch "pi" is invalid: spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator'],
    ['an unknown action', (j) => (j.spec.podFailurePolicy = { rules: [{ action: 'Retry', onExitCodes: { operator: 'In', values: [1] } }] }), 'Job.batch "pi" is invalid: spec.podFailurePolicy.rules[0].action: Unsupported value: "Retry": supported values: "Count", "FailIndex", "FailJob", "Ignore"'],
    ['an unknown container name', (j) => (j.spec.podFailurePolicy = { rules: [{ action: 'FailJob', onExitCodes: { containerName: 'x', operator: 'In', values: [1] } }] }), 'Job.batch "pi" is invalid: spec.podFailurePolicy.rules[0].onExitCodes.containerName: Invalid value: "x": must be one of the container or initContainer names in the pod template'],
    ['backoffLimitPerIndex (not implemented)', (j) => (j.spec.backoffLimitPerIndex = 1), 'Job.batch "pi" is invalid: spec.backoffLimitPerIndex: Forbidden: not supported by Flotilla'],
    [
      'maxFailedIndexes (not implemented)',
      (j) => Object.assign(j.spec, { completionMode: 'Indexed', completions: 3, maxFailedIndexes: 1 }),
      'Job.batch "pi" is invalid: spec.maxFailedIndexes: Forbidden: not supported by Flotilla',
    ],
    [
      'successPolicy (not implemented)',
      (j) => Object.assign(j.spec, { completionMode: 'Indexed', completions: 3, successPolicy: { rules: [{ succeededCount: 1 }] } }),
      'Job.batch "pi" is invalid: spec.successPolicy: Forbidden: not supported by Flotilla',
    ],
    ['managedBy another controller', (j) => (j.spec.managedBy = 'kueue.x-k8s.io/multikueue'), 'Job.batch "pi" is invalid: spec.managedBy: Forbidden: Jobs managed by another controller are not supported by Flotilla'],
    ['managedBy the built-in job controller', (j) => (j.spec.managedBy = 'kubernetes.io/job-controller'), ''],
    [
      'the FailIndex action (needs backoffLimitPerIndex)',
      (j) => (j.spec.podFailurePolicy = { rules: [{ action: 'FailIndex', onExitCodes: { operator: 'In', values: [1] } }] }),
      'Job.batch "pi" is invalid: spec.podFailurePolicy.rules[0].action: Forbidden: the FailIndex action needs backoffLimitPerIndex, which is not supported by Flotilla',
    ],
    ['restartPolicy OnFailure (its container restarts count toward backoffLimit)', (j) => (j.spec.template.spec.restartPolicy = 'OnFailure'), ''],
  ];
  for (const [name, mutate, want] of cases) it(name, () => (want.endsWith(': ') ? expect(errorOf(job(mutate))).toContain(want) : expect(errorOf(job(mutate))).toBe(want)));
  it('a selector without manualSelector gets the controller-uid requirement added, and then does not match the template', () => {
    expect(errorOf(job((j) => (j.spec.selector = { matchLabels: { a: 'b' } })))).toMatch(/^Job\.batch "pi" is invalid: spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`$/);
  });

  it('selector and template are immutable', () => {
    const old = created(job());
    const sel = structuredClone(old);
    sel.spec.selector = { matchLabels: { x: 'y' } };
    expect(errorOf(sel, old)).toContain('spec.selector: Invalid value: {"matchLabels":{"x":"y"}}: field is immutable');
    const tpl = structuredClone(old);
    tpl.spec.template.spec.containers[0].image = 'busybox:2';
    expect(errorOf(tpl, old)).toContain('spec.template: Invalid value: ');
    expect(errorOf(tpl, old)).toContain('field is immutable');
    const ok = structuredClone(old);
    ok.spec.suspend = true;
    ok.spec.parallelism = 4;
    expect(errorOf(ok, old)).toBe('');
  });
});

describe('CronJob defaults and validation', () => {
  it("a jobTemplate's backoffLimitPerIndex is refused by name, as on a Job", () => {
    expect(errorOf(cronjob((c) => Object.assign(c.spec.jobTemplate.spec, { completionMode: 'Indexed', completions: 2, backoffLimitPerIndex: 1 })))).toBe(
      'CronJob.batch "hello" is invalid: spec.jobTemplate.spec.backoffLimitPerIndex: Forbidden: not supported by Flotilla',
    );
  });
  it('concurrencyPolicy Allow, suspend false, history limits 3 and 1; the job template is not Job-defaulted', () => {
    const c = created(cronjob());
    expect(c.spec).toMatchObject({ concurrencyPolicy: 'Allow', suspend: false, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 1 });
    expect(c.spec.jobTemplate.spec.backoffLimit).toBeUndefined();
    expect(c.spec.jobTemplate.spec.template.spec.containers[0].imagePullPolicy).toBe('Always'); // busybox: no tag
  });
  const cases: [string, (c: Obj) => void, string][] = [
    ['a valid cronjob', () => {}, ''],
    ['@hourly', (c) => (c.spec.schedule = '@hourly'), ''],
    ['@midnight', (c) => (c.spec.schedule = '@midnight'), ''],
    ['a time zone', (c) => (c.spec.timeZone = 'Europe/Paris'), ''],
    ['a bad field', (c) => (c.spec.schedule = '61 * * * *'), 'CronJob.batch "hello" is invalid: spec.schedule: Invalid value: "61 * * * *": Constraint error, got value 61 expected range 0-59'],
    ['six fields', (c) => (c.spec.schedule = '0 * * * * *'), 'CronJob.batch "hello" is invalid: spec.schedule: Invalid value: "0 * * * * *": expected exactly 5 fields, found 6: [0 * * * * *]'],
    ['garbage', (c) => (c.spec.schedule = 'every day'), 'CronJob.batch "hello" is invalid: spec.schedule: Invalid value: "every day": expected exactly 5 fields, found 2: [every day]'],
    ['@every is not Kubernetes', (c) => (c.spec.schedule = '@every 5m'), 'CronJob.batch "hello" is invalid: spec.schedule: Invalid value: "@every 5m": @every is not supported by Kubernetes CronJobs; use a five-field schedule'],
    ['TZ in the schedule', (c) => (c.spec.schedule = 'TZ=UTC * * * * *'), 'CronJob.batch "hello" is invalid: spec.schedule: Invalid value: "TZ=UTC * * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead'],
    ['an unknown time zone', (c) => (c.spec.timeZone = 'Mars/Olympus'), 'CronJob.batch "hello" is invalid: spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'],
    ['a bad concurrencyPolicy', (c) => (c.spec.concurrencyPolicy = 'Never'), 'CronJob.batch "hello" is invalid: spec.concurrencyPolicy: Unsupported value: "Never": supported values: "Allow", "Forbid", "Replace"'],
    ['negative startingDeadlineSeconds', (c) => (c.spec.startingDeadlineSeconds = -5), 'CronJob.batch "hello" is invalid: spec.startingDeadlineSeconds: Invalid value: -5: must be greater than or equal to 0'],
    ['a template with restartPolicy Always', (c) => (c.spec.jobTemplate.spec.template.spec.restartPolicy = 'Always'), 'CronJob.batch "hello" is invalid: spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'],
    ['a name too long for its jobs', (c) => (c.metadata.name = 'x'.repeat(53)), `CronJob.batch "${'x'.repeat(53)}" is invalid: metadata.name: Invalid value: "${'x'.repeat(53)}": must be no more than 52 characters`],
  ];
  for (const [name, mutate, want] of cases) it(name, () => expect(errorOf(cronjob(mutate))).toBe(want));
});

describe('kubectl columns', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  it('jobs: NAME STATUS COMPLETIONS DURATION AGE (+ wide)', () => {
    const j = created(job((x) => Object.assign(x.spec, { completions: 3, parallelism: 2 })));
    j.metadata.creationTimestamp = '2026-12-07T11:58:00Z';
    j.status = { startTime: '2026-12-07T11:58:00Z', completionTime: '2026-12-07T11:58:42Z', succeeded: 3, conditions: [{ type: 'Complete', status: 'True' }] };
    expect(jobKind.printer.columns.map((c) => c.name)).toEqual(['Name', 'Status', 'Completions', 'Duration', 'Age', 'Containers', 'Images', 'Selector']);
    expect(jobKind.printer.cells(j, now)).toEqual(['pi', 'Complete', '3/3', '42s', '2m', 'pi', 'busybox', `batch.kubernetes.io/controller-uid=${j.metadata.uid}`]);
    const w = created(job((x) => Object.assign(x.spec, { parallelism: 2 })));
    w.status = { startTime: '2026-12-07T11:59:50Z' };
    expect(jobKind.printer.cells(w, now).slice(1, 4)).toEqual(['Running', '0/1 of 2', '10s']);
  });
  it('cronjobs: NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE', () => {
    const c = created(cronjob());
    c.metadata.creationTimestamp = '2026-12-07T11:00:00Z';
    expect(cronJobKind.printer.columns.filter((x) => x.priority === 0).map((x) => x.name)).toEqual(['Name', 'Schedule', 'Timezone', 'Suspend', 'Active', 'Last Schedule', 'Age']);
    expect(cronJobKind.printer.cells(c, now).slice(0, 7)).toEqual(['hello', '* * * * *', '<none>', 'False', 0, '<none>', '60m']);
    c.status = { active: [{ name: 'hello-1' }], lastScheduleTime: '2026-12-07T11:59:00Z' };
    expect(cronJobKind.printer.cells(c, now).slice(4, 6)).toEqual([1, '60s']);
  });
  it('scheduled timestamps carry the zone offset', () => {
    expect(rfc3339InZone(Date.parse('2026-12-07T16:30:00Z'))).toBe('2026-12-07T16:30:00Z');
    expect(rfc3339InZone(Date.parse('2026-12-07T16:30:00Z'), 'Europe/Paris')).toBe('2026-12-07T17:30:00+01:00');
    expect(rfc3339InZone(Date.parse('2026-07-07T16:30:00Z'), 'America/New_York')).toBe('2026-07-07T12:30:00-04:00');
  });
});
