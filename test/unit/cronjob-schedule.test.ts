// CronJob schedules (cron-parser under Kubernetes' rules) and the controller's
// missed-schedule arithmetic, on fixed instants: next times in UTC and in time
// zones across DST changes, macros, the earliest time and startingDeadlineSeconds.
import { describe, expect, it } from 'vitest';
import { parseSchedule, standardCronExpression, type CronJob } from '../../api/index.js';
import { MAX_MISSED_START_TIMES, dueTime, earliestTime, jobNameFor } from '../../controller/cronjob/index.js';

const at = (s: string) => Date.parse(s);
const isoOf = (ms: number) => new Date(ms).toISOString();

function nextN(schedule: string, tz: string | undefined, from: string, n: number): string[] {
  const s = parseSchedule(schedule, tz);
  const out: string[] = [];
  let t = at(from);
  for (let i = 0; i < n; i++) out.push(isoOf((t = s.next(t))));
  return out;
}

describe('[cronjob] next schedule times', () => {
  it('every minute, strictly after the given instant', () => {
    expect(nextN('* * * * *', undefined, '2026-12-07T12:00:00Z', 2)).toEqual(['2026-12-07T12:01:00.000Z', '2026-12-07T12:02:00.000Z']);
    expect(nextN('*/15 * * * *', undefined, '2026-12-07T12:07:30Z', 2)).toEqual(['2026-12-07T12:15:00.000Z', '2026-12-07T12:30:00.000Z']);
  });
  it('macros as Kubernetes knows them', () => {
    expect(standardCronExpression('@hourly')).toEqual({ expr: '0 * * * *' });
    expect(standardCronExpression('@midnight')).toEqual({ expr: '0 0 * * *' });
    expect(nextN('@weekly', undefined, '2026-12-07T12:00:00Z', 1)).toEqual(['2026-12-13T00:00:00.000Z']); // a Sunday
    expect(nextN('@yearly', undefined, '2026-12-07T12:00:00Z', 1)).toEqual(['2027-01-01T00:00:00.000Z']);
    expect(nextN('@monthly', undefined, '2026-12-07T12:00:00Z', 1)).toEqual(['2027-01-01T00:00:00.000Z']);
    expect(standardCronExpression('@every 1m')).toHaveProperty('error');
    expect(standardCronExpression('@reboot')).toEqual({ error: 'unrecognized descriptor: @reboot' });
  });
  it('day of month or day of week (either matches, as standard cron)', () => {
    // the 13th, or any Friday
    expect(nextN('0 0 13 * 5', undefined, '2026-12-07T00:00:00Z', 3)).toEqual(['2026-12-11T00:00:00.000Z', '2026-12-13T00:00:00.000Z', '2026-12-18T00:00:00.000Z']);
  });
  it('in a time zone: 09:00 in Europe/Paris is 08:00Z in winter and 07:00Z in summer', () => {
    expect(nextN('0 9 * * *', 'Europe/Paris', '2026-12-07T12:00:00Z', 1)).toEqual(['2026-12-08T08:00:00.000Z']);
    expect(nextN('0 9 * * *', 'Europe/Paris', '2026-07-07T12:00:00Z', 1)).toEqual(['2026-07-08T07:00:00.000Z']);
  });
  it('across a DST change: hourly keeps one run per real hour; a daily run keeps its wall-clock time', () => {
    // New York springs forward on 2026-03-08 at 02:00 local (07:00Z)
    expect(nextN('0 * * * *', 'America/New_York', '2026-03-08T05:30:00Z', 3)).toEqual(['2026-03-08T06:00:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-08T08:00:00.000Z']);
    expect(nextN('0 8 * * *', 'America/New_York', '2026-03-07T00:00:00Z', 2)).toEqual(['2026-03-07T13:00:00.000Z', '2026-03-08T12:00:00.000Z']);
  });
  it('a time that does not exist (02:30 on the spring-forward day) runs at 03:30 local that day (cron-parser), once', () => {
    expect(nextN('30 2 * * *', 'America/New_York', '2026-03-08T00:00:00Z', 2)).toEqual(['2026-03-08T07:30:00.000Z', '2026-03-09T06:30:00.000Z']);
  });
  it('a time that happens twice (01:30 on the fall-back day) runs once', () => {
    expect(nextN('30 1 * * *', 'America/New_York', '2026-11-01T00:00:00Z', 2)).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
  });
});

function cj(spec: Partial<CronJob['spec']>, status: CronJob['status'] = {}, created = '2026-12-07T12:00:00Z'): CronJob {
  return { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'hello', namespace: 'default', creationTimestamp: created }, spec: { schedule: '* * * * *', jobTemplate: { spec: {} as never }, ...spec }, status };
}

describe('[cronjob] missed schedules', () => {
  const every = parseSchedule('* * * * *');
  it('nothing due before the first minute after creation; due at it', () => {
    const c = cj({});
    expect(dueTime(every, earliestTime(c, at('2026-12-07T12:00:30Z')), at('2026-12-07T12:00:30Z'))).toEqual({ missed: 0, next: at('2026-12-07T12:01:00Z') });
    expect(dueTime(every, earliestTime(c, at('2026-12-07T12:01:00.200Z')), at('2026-12-07T12:01:00.200Z'))).toMatchObject({ mostRecent: at('2026-12-07T12:01:00Z'), missed: 1 });
  });
  it('after lastScheduleTime only the most recent missed time starts, the others are counted', () => {
    const c = cj({}, { lastScheduleTime: '2026-12-07T12:05:00Z' });
    const now = at('2026-12-07T12:10:30Z');
    expect(dueTime(every, earliestTime(c, now), now)).toEqual({ mostRecent: at('2026-12-07T12:10:00Z'), missed: 5, next: at('2026-12-07T12:11:00Z') });
  });
  it('more than 100 missed: counting stops and the most recent is still found', () => {
    const c = cj({}, { lastScheduleTime: '2026-12-01T00:00:00Z' });
    const now = at('2026-12-07T12:10:30Z');
    const d = dueTime(every, earliestTime(c, now), now);
    expect(d.missed).toBe(MAX_MISSED_START_TIMES + 1);
    expect(d.mostRecent).toBe(at('2026-12-07T12:10:00Z'));
  });
  it('startingDeadlineSeconds bounds how far back it looks', () => {
    const c = cj({ startingDeadlineSeconds: 200 }, { lastScheduleTime: '2026-12-01T00:00:00Z' });
    const now = at('2026-12-07T12:10:30Z');
    expect(earliestTime(c, now)).toBe(now - 200_000);
    expect(dueTime(every, earliestTime(c, now), now).missed).toBe(3); // after 12:07:10: 12:08, 12:09, 12:10
    const hourly = parseSchedule('0 * * * *');
    const late = at('2026-12-07T12:10:00Z'); // 12:00 is more than 200 s ago: missed, nothing to start
    expect(dueTime(hourly, earliestTime(c, late), late)).toEqual({ missed: 0, next: at('2026-12-07T13:00:00Z') });
  });
  it('Jobs are named by the scheduled minute since the epoch', () => {
    expect(jobNameFor('hello', at('2026-12-07T12:10:00Z'))).toBe(`hello-${at('2026-12-07T12:10:00Z') / 60000}`);
  });
});
