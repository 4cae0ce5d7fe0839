export {
  schedule,
  CronJob,
  type ScheduleOptions,
  type CronRun,
  type CronEvents,
  type CronRanEvent,
  type CronSkippedEvent,
  type CronFailedEvent,
} from './schedule.js';
export { type CronHistoryEntry } from './history.js';
export { type OverlapPolicy } from './overlap.js';
