// Public entry of controller/cronjob: the CronJob controller and its pure schedule arithmetic.
export { CronJobController, jobFinishedAs, newScheduledJob, type CronJobApi, type CronJobControllerOptions } from './controller.js';
export { MAX_MISSED_START_TIMES, dueTime, earliestTime, jobNameFor, type DueTime } from './schedule.js';
