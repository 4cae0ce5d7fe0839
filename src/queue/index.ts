export { Queue } from './queue.js';
export { type QueueOptions, type PushOptions, type ProcessOptions, type JobHandler } from './options.js';
export { Job, type NackOptions, type SettleOptions } from './job.js';
export { JobLostError, QueueFullError, type LostJobState } from './errors.js';
export { type QueueStats } from './consumer.js';
export { type QueueCodec, type DeadLetterInfo, MAX_PRIORITY } from './item.js';
export { type PeekedJob } from './peek.js';
export { MAX_PUSH_MANY } from './push-many.js';
