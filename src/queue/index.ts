export { Queue, type QueueOptions, type PushOptions, type ProcessOptions, type JobHandler } from './queue.js';
export { Job, type NackOptions, type SettleOptions } from './job.js';
export { JobLostError, type LostJobState } from './errors.js';
export { type QueueStats } from './consumer.js';
export { type QueueCodec, type DeadLetterInfo, MAX_PRIORITY } from './item.js';
