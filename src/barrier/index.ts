export { Barrier, type BarrierHoldOptions } from './barrier.js';
export { DoubleBarrier, type DoubleBarrierOptions } from './double-barrier.js';
