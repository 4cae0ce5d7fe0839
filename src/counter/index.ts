export { Counter } from './counter.js';
export { AtomicCounter, type AtomicCounterOptions, type ReservedBlock } from './atomic-counter.js';
export { type CounterCallOptions } from './options.js';
export { INT64_MIN, INT64_MAX } from './int64.js';
export { IdGenerator, type IdGeneratorOptions } from './id-generator.js';
