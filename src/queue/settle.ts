import type { ITxnResponse } from 'etcd3';
import type { WaitOptions } from '../core/deadline.js';
import { isTransient, UnavailableError } from '../core/errors.js';
import { Release } from '../core/release.js';
import type { QueueTxns } from './claims.js';
import { itemId } from './ids.js';
import { JobLostError } from './errors.js';
import type { JobClaim } from './job.js';

/** Failed attempts a settle call waits through before it rejects (the settle itself goes on). */
const FAILURES_PER_CALL = 8;

/** How a claimed job is settled: done, given back counted, or given back uncounted. */
export type SettleKind = 'ack' | 'nack' | 'release';

/** What a confirmed settle did. */
export type SettleOutcome = 'acked' | 'nacked' | 'dead' | 'released';

/**
 * @internal One job's settle (ack, nack or release): one guarded txn, retried until confirmed while the
 * claim's session lives (a {@link Release}), so a call that failed can be made again and an unanswered
 * attempt is not remembered as failed.
 *
 * A confirmed settle means *this* claim was live when the txn applied. When the guard fails, the claim is
 * gone, and there are two ways that can be:
 * - an earlier attempt of this settle applied but its answer was lost;
 * - the claim's lease ended (the claim went with it) and the job was or will be redelivered.
 * Only this consumer's own guarded txns delete its claim while the lease lives, and a lease never comes
 * back once gone: so after an unanswered attempt, a failed guard under a lease that still exists proves
 * the earlier attempt applied. Otherwise the claim was lost: {@link JobLostError}, saying whether the job
 * is still queued or was completed elsewhere.
 */
export class Settlement {
  readonly kind: SettleKind;
  readonly #release: Release;
  /** Some attempt got no answer (it may have applied, now or later). */
  #uncertain = false;
  #outcome: SettleOutcome | undefined;

  constructor(
    txns: QueueTxns,
    claim: JobClaim,
    kind: SettleKind,
    settings: { queue: string; delayMs: number; maxAttempts: number; alive: AbortSignal },
    onConfirmed: (outcome: SettleOutcome) => void,
  ) {
    this.kind = kind;
    const what = `queue "${settings.queue}": ${kind} job ${itemId(claim.createRevision, claim.rel)}`;
    const { ops, outcome } = txns.settleOps(kind, claim, settings.delayMs, settings.maxAttempts);
    this.#release = new Release({
      what,
      alive: settings.alive,
      // A caller without `timeoutMs` waits through a reconnect (grpc redials after ~1 s), as the single
      // retried settle did before: about 4 s of attempts.
      failuresPerCall: FAILURES_PER_CALL,
      // …but never longer than the request timeout, so ack()/nack() settle within their deadline (issue 16 f1).
      defaultTimeoutMs: txns.requestTimeoutMs,
      attempt: async () => {
        let res: ITxnResponse;
        try {
          res = await txns.settleAttempt(what, claim, ops);
        } catch (err) {
          if (!(err instanceof UnavailableError) || err.mayHaveApplied) this.#uncertain = true;
          throw err;
        }
        if (!res.succeeded && !(this.#uncertain && (await txns.leaseAlive(what, claim.leaseId)))) {
          throw this.#lost(what, res);
        }
        if (this.#outcome === undefined) {
          this.#outcome = outcome;
          onConfirmed(outcome);
        }
      },
    });
  }

  /** True once confirmed. */
  get done(): boolean {
    return this.#release.done;
  }

  /**
   * Settles, or waits for the settle already under way (it goes on in the background after a failure).
   *
   * @throws JobLostError when the claim was lost
   * @throws UnavailableError when not confirmed in time (call again; it keeps retrying meanwhile), with
   *   `mayHaveApplied` unless the settle stopped (the coordinator closed) with nothing sent unanswered
   * @throws AbortedError when `signal` aborts
   */
  run(opts: WaitOptions = {}): Promise<void> {
    // `Release` says "may have applied" whenever the call gives up with an attempt in flight, one
    // unanswered, or the settle still retried in the background (the torture finding `queue/acked`).
    return this.#release.run(opts);
  }

  #lost(what: string, res: ITxnResponse): JobLostError {
    const queued = (res.responses[0]?.response_range.kvs.length ?? 0) > 0;
    // An ack that applied deletes the item, so "still queued" rules it out; anything else stays open when
    // an attempt went unanswered before the lease ended.
    const mayHaveApplied = this.#uncertain && !(this.kind === 'ack' && queued);
    const where = queued
      ? 'the job is still queued and will be (or was) delivered again'
      : 'the job was completed elsewhere (acked or dead-lettered by another consumer)';
    const maybe = mayHaveApplied
      ? '; an earlier attempt of this call got no answer and may have applied before the claim was lost'
      : '';
    return new JobLostError(`${what}: the claim was lost (the consumer's lease ended): ${where}${maybe}`, {
      job: queued ? 'queued' : 'completed',
      mayHaveApplied,
    });
  }
}

/** What {@link Settlements} counts confirmed settles into. */
interface SettleCounters {
  acked: number;
  nacked: number;
  deadLettered: number;
}

/**
 * @internal The settles of one consumer: each started at once and followed until confirmed or known lost.
 *
 * A settle is retried for as long as the coordinator is open, not only while the session lives: the
 * session is declared lost on the client's clock before the server expires the lease, so an ack may still
 * apply then; and once the lease is gone the first answer from etcd ends the retries with `JobLostError`.
 */
export class Settlements {
  readonly #txns: QueueTxns;
  readonly #settings: { name: string; maxAttempts: number };
  readonly #open: AbortSignal;
  readonly #counters: SettleCounters;
  /** Started and not yet confirmed or known lost. */
  readonly #pending = new Set<Settlement>();

  constructor(
    txns: QueueTxns,
    settings: { name: string; maxAttempts: number },
    open: AbortSignal,
    counters: SettleCounters,
  ) {
    this.#txns = txns;
    this.#settings = settings;
    this.#open = open;
    this.#counters = counters;
  }

  start(claim: JobClaim, kind: SettleKind, delayMs: number): Settlement {
    const { name, maxAttempts } = this.#settings;
    const settlement = new Settlement(
      this.#txns,
      claim,
      kind,
      { queue: name, delayMs, maxAttempts, alive: this.#open },
      (outcome) => this.#count(outcome),
    );
    this.#pending.add(settlement);
    const follow = (): Promise<void> =>
      settlement.run().then(
        () => void this.#pending.delete(settlement),
        (err: unknown) => {
          // A transient failure: the settle keeps retrying in the background while the coordinator is open.
          if (isTransient(err) && !this.#open.aborted) return follow();
          this.#pending.delete(settlement);
        },
      );
    void follow();
    return settlement;
  }

  /** One promise per pending settle, each settling within `timeoutMs` (for `close()`). */
  waitAll(timeoutMs: number): Promise<void>[] {
    return [...this.#pending].map((settlement) => settlement.run({ timeoutMs }));
  }

  #count(outcome: SettleOutcome): void {
    if (outcome === 'acked') this.#counters.acked++;
    else if (outcome === 'nacked') this.#counters.nacked++;
    else if (outcome === 'dead') this.#counters.deadLettered++;
  }
}
