import type { Job } from './job.js';
import type { QueueCodec } from './item.js';

/** Options of `Queue` (`coord.queue(name, opts)`). */
export interface QueueOptions<T> {
  /** Deliveries before a job moves to the dead-letter queue. Default 5. */
  maxAttempts?: number;
  /** Name of the dead-letter queue (itself a queue). Default `<name>.dead`. */
  deadLetter?: string;
  /** Payload encoding. Default JSON (payloads must then be plain JSON values). */
  codec?: QueueCodec<T>;
  /**
   * Bounds the queue: at most this many jobs (visible, delayed and claimed; what `Queue.size()`
   * counts) after a push through this handle. A push that does not fit waits for room (or fails with
   * `QueueFullError` when `wait: false`). Exact under concurrency for pushes through handles that set it
   * (the txn is guarded, see the guide); pushes through handles without it, and dead letters, are not held
   * to it. Default: unbounded.
   */
  maxSize?: number;
}

/** Options of `Queue.push` and `Queue.pushMany`. */
export interface PushOptions {
  /** Integer in [0, 999999]; higher is served first. Default 0. */
  priority?: number;
  /** Not handed out before this many ms from now. Default 0. */
  delayMs?: number;
  /** Gives up: the call rejects `AbortedError` at once (an attempt already sent may still enqueue the job). */
  signal?: AbortSignal | undefined;
  /**
   * Upper bound of the whole call, retries and the wait for room included. Default: the retries' own
   * bound (no bound on the wait for room of a bounded queue: like `BlockingQueue.put`).
   */
  timeoutMs?: number | undefined;
  /**
   * On a full bounded queue (`maxSize`): `true` (default) waits for room, like `BlockingQueue.put` (a
   * bounded queue is there to slow producers down); `false` fails at once with `QueueFullError` (code
   * `QUEUE_FULL`), like `offer`. Ignored on an unbounded queue.
   */
  wait?: boolean | undefined;
}

/** Options of `Queue.process`. */
export interface ProcessOptions<T> {
  /** Jobs handled at once. Default 1. */
  concurrency?: number;
  /** Stops taking jobs; handlers in progress see their signal abort and are awaited. */
  signal?: AbortSignal;
  /** Delay before a job whose handler threw is handed out again. Default 0. */
  retryDelayMs?: number;
  /**
   * Told about handler errors and failed settles: a `JobLostError` when the claim was lost before the ack
   * (the job was completed elsewhere or will be redelivered), an `UnavailableError` when etcd did not
   * confirm it (it is retried in the background). The loop goes on either way.
   */
  onError?: (err: unknown, job: Job<T> | undefined) => void;
}

/** A handler for {@link Queue.process}: resolve to ack, throw to nack. */
export type JobHandler<T> = (job: Job<T>, signal: AbortSignal) => Promise<void> | void;
