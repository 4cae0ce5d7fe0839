import { CoordError, LockLostError } from '../core/errors.js';

/** Where a job is after its claim was lost: still in the queue, or gone (acked or dead-lettered elsewhere). */
export type LostJobState = 'queued' | 'completed';

/**
 * A job's `ack()`, `nack()` or `release()` found its claim gone: the consumer's lease ended (a pause, a
 * partition longer than the TTL) and the job was handed to another consumer, or will be. Code `LOCK_LOST`
 * (it is a {@link LockLostError}), like bullmq's "missing lock": the txn did *not* apply with this claim.
 *
 * @example
 * ```ts
 * try { await job.ack(); }
 * catch (err) {
 *   if (err instanceof JobLostError && err.job === 'completed') log('another consumer finished it');
 *   else if (err instanceof JobLostError) log('it will run again elsewhere');
 *   else throw err;
 * }
 * ```
 *
 * Failure modes: `mayHaveApplied` is true when an earlier attempt of the same call got no answer and the
 * lease ended before the call could confirm it: that earlier attempt may be what completed (or gave back)
 * the job, before the lease ended. It is false whenever the claim was known lost before any attempt of
 * this call could apply.
 */
export class JobLostError extends LockLostError {
  /** Where the job is now. */
  readonly job: LostJobState;
  /** An earlier attempt of this call got no answer and may have applied while the claim was still live. */
  readonly mayHaveApplied: boolean;

  constructor(
    message: string,
    fields: { job: LostJobState; mayHaveApplied: boolean },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.job = fields.job;
    this.mayHaveApplied = fields.mayHaveApplied;
  }
}

/**
 * A push to a bounded queue (`coord.queue(name, { maxSize })`) found it full: with `{ wait: false }` at
 * once (like Java's `BlockingQueue.offer`), or after waiting `timeoutMs` for room (like `offer(e, timeout)`).
 * Code `QUEUE_FULL`. Nothing was enqueued by this call.
 *
 * @example
 * ```ts
 * try { await q.push(job, { wait: false }); }
 * catch (err) { if (err instanceof QueueFullError) return shed(job); throw err; }
 * ```
 *
 * Failure modes: none of its own: the txn that would have enqueued the job was never sent, or its guard
 * failed (the room check is part of it).
 */
export class QueueFullError extends CoordError {
  readonly code = 'QUEUE_FULL';
}
