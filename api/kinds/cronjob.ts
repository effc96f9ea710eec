// CronJob (batch/v1): creates Jobs on a cron schedule, run by the cronjob
// controller (controller/cronjob/). The schedule is parsed with cron-parser
// under Kubernetes' rules (five fields or a macro, no seconds, no `@every`,
// no `TZ=` prefix); time zones are IANA names as Intl knows them.
import { CronExpressionParser } from 'cron-parser';
import type { KubeObject, ObjectMeta } from '../meta.js';
import type { ObjectReference } from '../types.js';
import { isPlainObject } from '../helpers.js';
import { ANY, column, defineKind } from '../kind.js';
import { age } from '../printers/age.js';
import { FieldErrors, bool, int, obj, oneOf, str, stringMap, validateLabels } from '../validation-core.js';
import { FALLBACK } from './common.js';
import { defaultPodTemplateSpec } from './pod-template.js';
import { podKind } from './pod.js';
import { jobSpecSchema, validateJobSpec, type JobSpec } from './job.js';
import { workloadWideCells } from './replicaset.js';

type Obj = Record<string, unknown>;

/** The annotation a CronJob's Job carries: the time it was scheduled for (RFC 3339, in the CronJob's zone). */
export const CRONJOB_SCHEDULED_TIMESTAMP_ANNOTATION = 'batch.kubernetes.io/cronjob-scheduled-timestamp';
/** `kubectl create job --from=cronjob/x` marks its Job with this annotation (value `manual`). */
export const CRONJOB_INSTANTIATE_ANNOTATION = 'cronjob.kubernetes.io/instantiate';
/** A CronJob's name leaves room for the `-<minutes>` suffix of its Jobs' names (63 - 11). */
export const MAX_CRONJOB_NAME_LENGTH = 52;


export interface CronJobSpec {
  schedule: string;
  timeZone?: string;
  startingDeadlineSeconds?: number;
  concurrencyPolicy?: 'Allow' | 'Forbid' | 'Replace';
  suspend?: boolean;
  jobTemplate: { metadata?: Pick<ObjectMeta, 'labels' | 'annotations'>; spec: JobSpec };
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
}

export interface CronJobStatus {
  active?: ObjectReference[];
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
}

export interface CronJob extends KubeObject {
  apiVersion?: 'batch/v1';
  kind?: 'CronJob';
  spec: CronJobSpec;
  status?: CronJobStatus;
}

/** The macros Kubernetes accepts, as five-field expressions. */
const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** Extensions cron-parser knows and standard cron does not (last day, nth weekday, hashed values). */
const NON_STANDARD = /[#]|(^|[,\-/])(L|LW|\d+L|\d+W|H(\(\d+-\d+\))?)(?=$|[,\-/])/i;

/** A five-field expression for `schedule`, or the reason it is not one (wording as Kubernetes' cron parser). */
export function standardCronExpression(schedule: string): { expr: string } | { error: string } {
  const s = schedule.trim();
  if (s.startsWith('@')) {
    if (s.startsWith('@every')) return { error: '@every is not supported by Kubernetes CronJobs; use a five-field schedule' };
    const m = MACROS[s];
    return m ? { expr: m } : { error: `unrecognized descriptor: ${s}` };
  }
  const fields = s.split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 5) return { error: `expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]` };
  for (const f of fields) {
    if (NON_STANDARD.test(f)) return { error: `unsupported value in field "${f}": standard cron fields only (no L, W, # or H)` };
  }
  return { expr: fields.join(' ') };
}

/** Whether `tz` is an IANA time zone name Intl knows (`Local` is refused, as Kubernetes does). */
export function isValidTimeZone(tz: string): boolean {
  if (tz === '' || tz === 'Local' || tz.toLowerCase() === 'local') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A schedule ready to iterate; throws an Error with the parser's reason for a bad one. */
export function parseSchedule(schedule: string, timeZone?: string): { next(afterMs: number): number; prev(atOrBeforeMs: number): number | undefined } {
  const std = standardCronExpression(schedule);
  if ('error' in std) throw new Error(std.error);
  const tz = timeZone ?? 'UTC';
  // parse once now, so a bad expression is reported here
  CronExpressionParser.parse(std.expr, { tz, currentDate: new Date(0) });
  return {
    next(afterMs) {
      return CronExpressionParser.parse(std.expr, { tz, currentDate: new Date(afterMs) }).next().getTime();
    },
    prev(atOrBeforeMs) {
      try {
        return CronExpressionParser.parse(std.expr, { tz, currentDate: new Date(atOrBeforeMs + 1) }).prev().getTime();
      } catch {
        return undefined;
      }
    },
  };
}

/** An RFC 3339 timestamp of `ms` with the offset of `timeZone` (`2026-12-07T17:30:00+01:00`; UTC: `…Z`). */
export function rfc3339InZone(ms: number, timeZone?: string): string {
  const tz = timeZone ?? 'UTC';
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  const local = Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!, +parts.hour!, +parts.minute!, +parts.second!);
  const offMin = Math.round((local - Math.floor(ms / 1000) * 1000) / 60_000);
  const date = `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
  if (offMin === 0) return `${date}Z`;
  const sign = offMin < 0 ? '-' : '+';
  const a = Math.abs(offMin);
  return `${date}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

function validateSchedule(e: FieldErrors, spec: Obj): void {
  const schedule = str(e, spec, 'schedule', 'spec.schedule', true);
  const tz = str(e, spec, 'timeZone', 'spec.timeZone');
  let tzOk = true;
  if (tz !== undefined) {
    tzOk = isValidTimeZone(tz);
    if (!tzOk) e.invalid('spec.timeZone', tz, `unknown time zone ${tz}`);
  }
  if (schedule === undefined) return;
  if (/TZ/.test(schedule)) {
    e.invalid('spec.schedule', schedule, 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead');
    return;
  }
  try {
    parseSchedule(schedule, tzOk ? tz : undefined);
  } catch (err) {
    e.invalid('spec.schedule', schedule, (err as Error).message);
  }
}

function nonNegative(e: FieldErrors, o: Obj, key: string, path: string): void {
  const v = int(e, o, key, path);
  if (v !== undefined && v < 0) e.invalid(path, v, 'must be greater than or equal to 0');
}

export const cronJobKind = defineKind(
  {
    group: 'batch',
    version: 'v1',
    kind: 'CronJob',
    plural: 'cronjobs',
    shortNames: ['cj'],
    namespaced: true,
    categories: ['all'],
    subresources: ['status'],
    defaults(o) {
      if (!isPlainObject(o.spec)) return;
      const s = o.spec;
      s.concurrencyPolicy ??= 'Allow';
      s.suspend ??= false;
      s.successfulJobsHistoryLimit ??= 3;
      s.failedJobsHistoryLimit ??= 1;
      // the pod template inside is defaulted like any pod's; the JobSpec itself is not (as in Kubernetes)
      if (isPlainObject(s.jobTemplate) && isPlainObject(s.jobTemplate.spec)) defaultPodTemplateSpec(s.jobTemplate.spec.template);
    },
    strategy: {
      prepareForCreate(o) {
        delete o.status;
      },
    },
    validate(e, o, md) {
      if (typeof md.name === 'string' && md.name.length > MAX_CRONJOB_NAME_LENGTH) e.invalid('metadata.name', md.name, `must be no more than ${MAX_CRONJOB_NAME_LENGTH} characters`);
      const spec = obj(e, o, 'spec', 'spec', true);
      if (!spec) return;
      validateSchedule(e, spec);
      nonNegative(e, spec, 'startingDeadlineSeconds', 'spec.startingDeadlineSeconds');
      oneOf(e, spec, 'concurrencyPolicy', 'spec.concurrencyPolicy', ['Allow', 'Forbid', 'Replace']);
      bool(e, spec, 'suspend', 'spec.suspend');
      nonNegative(e, spec, 'successfulJobsHistoryLimit', 'spec.successfulJobsHistoryLimit');
      nonNegative(e, spec, 'failedJobsHistoryLimit', 'spec.failedJobsHistoryLimit');
      const jt = obj(e, spec, 'jobTemplate', 'spec.jobTemplate', true);
      if (!jt) return;
      const jmd = obj(e, jt, 'metadata', 'spec.jobTemplate.metadata') ?? {};
      validateLabels(e, stringMap(e, jmd, 'labels', 'spec.jobTemplate.metadata.labels'), 'spec.jobTemplate.metadata.labels');
      stringMap(e, jmd, 'annotations', 'spec.jobTemplate.metadata.annotations');
      const js = obj(e, jt, 'spec', 'spec.jobTemplate.spec', true);
      if (js) validateJobSpec(e, js, 'spec.jobTemplate.spec', { cronJob: true });
    },
    schema: {
      spec: {
        schedule: ANY,
        timeZone: ANY,
        startingDeadlineSeconds: ANY,
        concurrencyPolicy: ANY,
        suspend: ANY,
        successfulJobsHistoryLimit: ANY,
        failedJobsHistoryLimit: ANY,
        jobTemplate: { metadata: ANY, spec: jobSpecSchema },
      },
      status: ANY,
    },
    mergeKeys: { ...podKind.mergeKeys },
    printer: {
      columns: [
        column('Name', { format: 'name' }),
        column('Schedule'),
        column('Timezone'),
        column('Suspend', { type: 'boolean' }),
        column('Active', { type: 'integer' }),
        column('Last Schedule', { type: 'date' }),
        column('Age', { type: 'date' }),
        column('Containers', { priority: 1 }),
        column('Images', { priority: 1 }),
        column('Selector', { priority: 1 }),
      ],
      cells: (o, now) => {
        const md = (o.metadata ?? {}) as Obj;
        const spec = isPlainObject(o.spec) ? o.spec : {};
        const st = isPlainObject(o.status) ? o.status : {};
        const jt = isPlainObject(spec.jobTemplate) ? spec.jobTemplate : {};
        const js = isPlainObject(jt.spec) ? jt.spec : {};
        const last = typeof st.lastScheduleTime === 'string' ? age(st.lastScheduleTime, now) : '<none>';
        return [
          md.name ?? '',
          spec.schedule ?? '',
          typeof spec.timeZone === 'string' ? spec.timeZone : '<none>',
          typeof spec.suspend === 'boolean' ? (spec.suspend ? 'True' : 'False') : '<unset>',
          Array.isArray(st.active) ? st.active.length : 0,
          last,
          age(md.creationTimestamp as string | undefined, now),
          ...workloadWideCells(js),
        ];
      },
    },
  },
  FALLBACK,
);
