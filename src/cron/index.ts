export { schedule, CronJob, type ScheduleOptions, type CronRun, type CronEvents } from './schedule.js';
export { type CronHistoryEntry } from './history.js';
export { type OverlapPolicy } from './overlap.js';
