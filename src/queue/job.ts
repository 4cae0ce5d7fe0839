import { assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import type { DeadLetterInfo, ItemHeader } from './item.js';
import type { SettleKind, Settlement } from './settle.js';

/** @internal What a job needs from the consumer that claimed it. */
export interface JobClaim {
  /** `<bucket>/<token>`. */
  rel: string;
  /** Create revision of the item key: the job's id. */
  createRevision: bigint;
  /** Create revision of the claim key: the guard of ack/nack. */
  claimRevision: bigint;
  /** The lease the claim key is attached to. */
  leaseId: bigint;
  /** The item's header as the claim txn wrote it (attempt already counted). */
  header: ItemHeader;
  payload: Buffer;
}

/** @internal */
export interface JobOwner {
  /** The one settle of this claim (the first kind asked for); later calls join it. */
  settle(claim: JobClaim, kind: SettleKind, delayMs: number): Settlement;
}

/** Options of {@link Job.ack}, {@link Job.nack} and {@link Job.release}: how long *this call* waits. */
export interface SettleOptions {
  /** Stops waiting (the settle goes on in the background while the session lives). */
  signal?: AbortSignal | undefined;
  /** Stops waiting after this long, with the last failure (`UnavailableError`); the settle goes on. */
  timeoutMs?: number | undefined;
}

/** Options of {@link Job.nack}. */
export interface NackOptions extends SettleOptions {
  /** Hide the job for this long before it is handed out again. Default 0. */
  delayMs?: number;
}

/**
 * A claimed job. It stays claimed (invisible to other consumers) until `ack()`, `nack()`, `release()`, or
 * until the consumer's session lease is lost, after which it is handed out again with `attempt + 1`.
 *
 * @example
 * ```ts
 * const job = await q.pop();
 * try { await send(job.payload); await job.ack(); }
 * catch (err) { if (!(err instanceof JobLostError)) await job.nack({ delayMs: 5000 }); }
 * ```
 *
 * Settling is one guarded txn, chosen by the first of `ack()`/`nack()`/`release()` called; it resolves
 * only when *this* claim was live and the txn applied. A call that failed (`UnavailableError`) can be made
 * again: the settle is retried in the background while the session lives, and a later call (of any of the
 * three) waits for that same settle. An attempt whose answer was lost is recognised when retried (the
 * claim is gone while the lease still exists: only this consumer could have deleted it).
 *
 * Failure modes: once `signal` aborts (the session lease is or may be lost) the claim can no longer be
 * trusted: another consumer may get the job; settling then fails with {@link JobLostError} (`LOCK_LOST`)
 * saying whether the job is still queued or was completed elsewhere, unless the claim was in fact still
 * there. With etcd unreachable, calls reject `UnavailableError` after a few attempts (or `timeoutMs`) and
 * the job is redelivered if the session ends before a retry gets through.
 */
export class Job<T = unknown> {
  /** The job's id: the create revision of its item key, as a decimal string. Unique and ordered within a queue. */
  readonly id: string;
  /** The job as pushed (decoded by the queue's codec). */
  readonly payload: T;
  /** Which delivery this is: 1 for the first. */
  readonly attempt: number;
  /** Its priority (0…999999, higher first). */
  readonly priority: number;
  /** Aborted when the claim may be lost (the consumer's session lease is lost). */
  readonly signal: AbortSignal;
  /** Set when this job is a dead letter: where it died and after how many deliveries. */
  readonly deadLetter: DeadLetterInfo | undefined;
  readonly #owner: JobOwner;
  readonly #claim: JobClaim;
  #settlement: Settlement | undefined;

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

  /** True once `ack()`, `nack()` or `release()` was called. */
  get settled(): boolean {
    return this.#settlement !== undefined;
  }

  /**
   * Marks the job done: deletes the item and the claim in one txn guarded by the claim. After `nack()` or
   * `release()` it waits for that settle instead.
   *
   * @example
   * ```ts
   * await job.ack({ timeoutMs: 5000 });
   * ```
   *
   * @throws JobLostError (`LOCK_LOST`) when the claim was lost: `err.job` says `'completed'` (elsewhere)
   *   or `'queued'` (it will run again)
   * @throws UnavailableError when etcd does not confirm it within a few attempts or `timeoutMs` (call again;
   *   it is retried in the background meanwhile): `mayHaveApplied`, since the ack may have applied or
   *   apply later — do not count on a redelivery
   * @throws AbortedError when `signal` aborts (the settle goes on)
   */
  ack(opts: SettleOptions = {}): Promise<void> {
    return this.#settle('ack', 0, opts);
  }

  /**
   * Gives the job back, counting the delivery: visible again after `delayMs`, keeping its place (FIFO
   * position) in its priority. After the queue's `maxAttempts` deliveries the job moves to the dead-letter
   * queue instead, in the same txn.
   *
   * @example
   * ```ts
   * await job.nack({ delayMs: 5000 });
   * ```
   *
   * @throws InvalidArgumentError (a rejection) for a negative or non-finite `delayMs`, before any request
   * @throws JobLostError / UnavailableError / AbortedError as {@link ack}
   */
  nack(opts: NackOptions = {}): Promise<void> {
    return this.#settle('nack', opts.delayMs, opts);
  }

  /**
   * Gives the job back at once *without* counting the delivery (`attempt` stays, so it does not move the
   * job toward the dead-letter queue): for a handler that was stopped by a graceful shutdown rather than
   * failing. Idempotent.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => void job.release());
   * ```
   *
   * @throws JobLostError / UnavailableError / AbortedError as {@link ack}
   */
  release(opts: SettleOptions = {}): Promise<void> {
    return this.#settle('release', 0, opts);
  }

  #settle(kind: SettleKind, delayMs: number | undefined, opts: SettleOptions): Promise<void> {
    try {
      assertOptionalDuration(delayMs, 'delayMs');
      assertOptionalSignal(opts.signal);
      assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    } catch (err) {
      return Promise.reject(err as Error);
    }
    this.#settlement ??= this.#owner.settle(this.#claim, kind, delayMs ?? 0);
    return this.#settlement.run(opts);
  }
}
