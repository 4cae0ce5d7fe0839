import { assertOptionalDuration } from '../core/validate.js';
import type { DeadLetterInfo, ItemHeader } from './item.js';

/** @internal What a job needs from the consumer that claimed it. */
export interface JobClaim {
  /** `<bucket>/<token>`. */
  rel: string;
  /** Create revision of the item key: the job's id. */
  createRevision: bigint;
  /** Create revision of the claim key: the guard of ack/nack. */
  claimRevision: bigint;
  /** The item's header as the claim txn wrote it (attempt already counted). */
  header: ItemHeader;
  payload: Buffer;
}

/** @internal */
export interface JobOwner {
  ack(claim: JobClaim): Promise<void>;
  nack(claim: JobClaim, delayMs: number): Promise<void>;
}

/** Options of {@link Job.nack}. */
export interface NackOptions {
  /** Hide the job for this long before it is handed out again. Default 0. */
  delayMs?: number;
}

/**
 * A claimed job. It stays claimed (invisible to other consumers) until `ack()`, `nack()`, or until the
 * consumer's session lease is lost, after which it is handed out again with `attempt + 1`.
 *
 * @example
 * ```ts
 * const job = await q.pop();
 * try { await send(job.payload); await job.ack(); }
 * catch { await job.nack({ delayMs: 5000 }); }
 * ```
 *
 * Failure modes: once `signal` aborts (the session lease is or may be lost) the claim can no longer be
 * trusted: another consumer may get the job; `ack()` then fails with `LockLostError` unless the claim was
 * in fact still there.
 */
export class Job<T = unknown> {
  /** The job's id: the create revision of its item key, as a decimal string. Unique and ordered within a queue. */
  readonly id: string;
  readonly payload: T;
  /** Which delivery this is: 1 for the first. */
  readonly attempt: number;
  readonly priority: number;
  /** Aborted when the claim may be lost (the consumer's session lease is lost). */
  readonly signal: AbortSignal;
  /** Set when this job is a dead letter: where it died and after how many deliveries. */
  readonly deadLetter: DeadLetterInfo | undefined;
  readonly #owner: JobOwner;
  readonly #claim: JobClaim;
  #settled: Promise<void> | undefined;

  /** @internal made by the queue's consumer */
  constructor(
    owner: JobOwner,
    claim: JobClaim,
    fields: { id: string; payload: T; priority: number; signal: AbortSignal },
  ) {
    this.#owner = owner;
    this.#claim = claim;
    this.id = fields.id;
    this.payload = fields.payload;
    this.priority = fields.priority;
    this.signal = fields.signal;
    this.attempt = claim.header.a;
    this.deadLetter = claim.header.d;
  }

  /** True once `ack()` or `nack()` was called. */
  get settled(): boolean {
    return this.#settled !== undefined;
  }

  /**
   * Marks the job done: deletes the item and the claim in one txn guarded by the claim. Calling it again
   * (or after `nack`) returns the first call's promise.
   *
   * @throws LockLostError when the claim is gone and the job is still queued (it was or will be redelivered)
   * @throws UnavailableError when etcd stays unreachable through the retries (the job may be redelivered)
   */
  ack(): Promise<void> {
    this.#settled ??= this.#owner.ack(this.#claim);
    return this.#settled;
  }

  /**
   * Gives the job back: visible again after `delayMs`, keeping its place (FIFO position) in its priority.
   * After the queue's `maxAttempts` deliveries the job moves to the dead-letter queue instead, in the same
   * txn. A claim that is already gone makes this a no-op (the job is redelivered anyway, without delay).
   *
   * @throws InvalidArgumentError for a negative or non-finite `delayMs`, before any request
   */
  nack(opts: NackOptions = {}): Promise<void> {
    assertOptionalDuration(opts.delayMs, 'delayMs');
    this.#settled ??= this.#owner.nack(this.#claim, opts.delayMs ?? 0);
    return this.#settled;
  }
}
