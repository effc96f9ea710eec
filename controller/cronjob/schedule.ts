// The cronjob controller's time arithmetic, pure: which scheduled time is due
// (the most recent one not yet started, within startingDeadlineSeconds), how
// many were missed, when to look again. Schedules come from parseSchedule
// (api/kinds/cronjob.ts, cron-parser underneath) in the CronJob's time zone.
import { parseSchedule, type CronJob } from '../../api/index.js';

/** More missed start times than this: the TooManyMissedTimes warning (Kubernetes' figure). */
export const MAX_MISSED_START_TIMES = 100;

export type Schedule = ReturnType<typeof parseSchedule>;

export interface DueTime {
  /** The most recent scheduled time in (earliest, now], if any. */
  mostRecent?: number;
  /** How many scheduled times fell in (earliest, now] (counted up to MAX_MISSED_START_TIMES + 1). */
  missed: number;
  /** The first scheduled time after now. */
  next: number;
}

/** When a CronJob last started or could first start: lastScheduleTime, else its creation, no earlier than now − startingDeadlineSeconds. */
export function earliestTime(cj: CronJob, now: number): number {
  const last = cj.status?.lastScheduleTime ? Date.parse(cj.status.lastScheduleTime) : NaN;
  let earliest = Number.isNaN(last) ? Date.parse(cj.metadata.creationTimestamp ?? '') : last;
  if (Number.isNaN(earliest)) earliest = now;
  const sds = cj.spec.startingDeadlineSeconds;
  if (sds !== undefined) earliest = Math.max(earliest, now - sds * 1000);
  return earliest;
}

/** The scheduled times due between `earliest` (exclusive) and `now` (inclusive). */
export function dueTime(sched: Schedule, earliest: number, now: number): DueTime {
  const next = sched.next(now);
  if (earliest >= now) return { missed: 0, next };
  let missed = 0;
  let mostRecent: number | undefined;
  for (let t = sched.next(earliest); t <= now; t = sched.next(t)) {
    missed++;
    mostRecent = t;
    if (missed > MAX_MISSED_START_TIMES) {
      // enough counted: the most recent one straight from now
      mostRecent = sched.prev(now) ?? mostRecent;
      break;
    }
  }
  return { ...(mostRecent !== undefined ? { mostRecent } : {}), missed, next };
}

/** A CronJob's Job name for a scheduled time: `<cronjob>-<minutes since the epoch>`. */
export function jobNameFor(cronJobName: string, scheduledMs: number): string {
  return `${cronJobName}-${Math.floor(scheduledMs / 60_000)}`;
}
