/**
 * Counter worker: alternates `Counter.increment()` and `AtomicCounter.add(1)` until quiesced.
 *
 * History: `increment` {value, write}, `add` {value, write}.
 *
 * @module
 */
import { pause, runWorker } from './common.js';
import { ATOMIC_NAME, COUNTER_NAME } from '../names.js';

await runWorker(async (w) => {
  const { coord, rng } = w;
  const counter = coord.counter(COUNTER_NAME);
  const atomic = coord.atomicCounter(ATOMIC_NAME);
  while (!w.quiesce.aborted) {
    await w.record(
      'increment',
      { write: true },
      () => counter.increment(),
      (v) => ({ value: v.toString() }),
    );
    await w.record(
      'add',
      { write: true },
      () => atomic.add(1),
      (v) => ({ value: v.toString() }),
    );
    await pause(rng.int(10, 60), w.quiesce);
  }
});
