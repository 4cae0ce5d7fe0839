/**
 * Queue worker. Role `producer`: pushes `{ p, n }` jobs until quiesced. Role `consumer`: pops, works a
 * little, acks — and keeps draining after quiesce, until SIGTERM.
 *
 * History: `push` {p, n, id, write}, `pop` {id, p, n, attempt}, `ack` {id, p, n, attempt, write, lost?}.
 * An ack that rejects `JobLostError` is recorded `failed` with `lost` = where the job is (`completed`
 * elsewhere or still `queued`): the claim was not live, so the ack proves nothing. One whose earlier
 * attempt may have applied before the claim was lost (`mayHaveApplied`) is recorded `unknown`.
 *
 * @module
 */
import { JobLostError } from '../../src/index.js';
import { monoNow } from '../history.js';
import { describe, outcomeOf, pause, runWorker } from './common.js';
import { QUEUE, QUEUE_OPTIONS } from '../names.js';

interface Payload {
  p: string;
  n: number;
}

await runWorker(async (w) => {
  const { coord, rng } = w;
  const q = coord.queue<Payload>(QUEUE, QUEUE_OPTIONS);
  w.onStop(() => q.close());
  if (w.role === 'producer') {
    let n = 0;
    while (!w.quiesce.aborted) {
      const payload = { p: w.name, n: n++ };
      await w.record(
        'push',
        { ...payload, write: true },
        () => q.push(payload),
        (id) => ({ id }),
      );
      await pause(rng.int(50, 200), w.quiesce);
    }
    return;
  }
  while (!w.stopping.aborted) {
    const popped = await w.record(
      'pop',
      {},
      () => q.pop({ timeoutMs: 2_000, signal: w.stopping }),
      (job) => ({ id: job.id, p: job.payload.p, n: job.payload.n, attempt: job.attempt }),
    );
    const job = popped.value;
    if (job === undefined) continue;
    await new Promise((r) => setTimeout(r, rng.int(10, 80)));
    const info = { id: job.id, p: job.payload.p, n: job.payload.n, attempt: job.attempt };
    // Recorded by hand, not with `record`, which would call any LOCK_LOST on a write "unknown".
    const details = { ...info, write: true };
    const start = monoNow();
    try {
      await job.ack();
      w.append('ack', 'ok', details, start);
    } catch (err) {
      const error = describe(err);
      if (err instanceof JobLostError && !err.mayHaveApplied)
        w.append('ack', 'failed', { ...details, lost: err.job, error }, start);
      else w.append('ack', outcomeOf(err, true), { ...details, error }, start);
    }
  }
});
