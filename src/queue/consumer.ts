import type { ICompare, ITxnResponse } from 'etcd3';
import { setMaxListeners } from 'node:events';
import { Backoff } from '../core/backoff.js';
import type { CoordContext } from '../core/context.js';
import { abortError, raceAbort, withDeadline, type WaitOptions } from '../core/deadline.js';
import { AbortedError, UnavailableError } from '../core/errors.js';
import { leaseHex } from '../core/keys.js';
import { headerRevision } from '../core/kv.js';
import { decodePayload, encodeItem, newToken, type ItemHeader, type QueueCodec } from './item.js';
import { itemId } from './ids.js';
import { Job, type JobClaim, type JobOwner } from './job.js';
import { Settlements, type Settlement, type SettleKind } from './settle.js';
import { QueueView, type Entry } from './view.js';
import { QueueTxns, cmpCreate, queuePrefix } from './claims.js';

/** Counters of one queue handle, for monitoring and benchmarks. */
export interface QueueStats {
  /** Claims won (jobs handed out, including ones released again). */
  claimed: number;
  /** Claim txns that lost the race to another consumer. */
  wasted: number;
  /** Jobs this handle moved to the dead-letter queue. */
  deadLettered: number;
  /** Jobs this handle acked. */
  acked: number;
  /** Jobs this handle nacked (given back to be delivered again). */
  nacked: number;
}

/** @internal resolved queue settings */
export interface ConsumerSettings<T> {
  name: string;
  maxAttempts: number;
  deadLetter: string;
  codec: QueueCodec<T> | undefined;
}

interface Waiter<T> {
  resolve(job: Job<T>): void;
}

/** The first claim attempt goes to the head (strict FIFO); contention widens the spread up to this. */
const MAX_SPREAD = 64;

/**
 * @internal The consuming side of one queue handle: one {@link QueueView} (one shared watch), the local
 * `pop()` waiters, and the claim txns. Items are handed out locally: each waiter gets its own item, so
 * consumers in one process never race each other.
 */
export class Consumer<T> implements JobOwner {
  readonly stats: QueueStats = { claimed: 0, wasted: 0, deadLettered: 0, acked: 0, nacked: 0 };
  readonly #ctx: CoordContext;
  readonly #s: ConsumerSettings<T>;
  readonly #view: QueueView;
  readonly #txns: QueueTxns;
  readonly #closed = new AbortController();
  readonly #waiters: Waiter<T>[] = [];
  /** Jobs handed out and not settled, by rel. */
  readonly #active = new Map<string, JobClaim>();
  readonly #settlements: Settlements;
  /** Claim txns whose outcome is unknown (no answer): rel → the nonce written in the claim. */
  readonly #uncertain = new Map<string, string>();
  readonly #backoff = new Backoff(50, 2000);
  #starting: Promise<void> | undefined;
  #started = false;
  #attempting = 0;
  #spread = 1;
  #writtenRevision = 0n;
  /** This consumer's id in the rendezvous ranking: its registered session lease, in hex. */
  #me = '';
  #registeredLease = 0n;
  #registering: Promise<void> | undefined;
  /** Smoothed claim round trip: a consumer's turn on a fresh item comes this much (×2) after the one ranked above. */
  #rttMs = 10;
  #rankTimer: NodeJS.Timeout | undefined;
  #rankTimerAt = Number.POSITIVE_INFINITY;
  #pauseTimer: NodeJS.Timeout | undefined;

  constructor(ctx: CoordContext, settings: ConsumerSettings<T>) {
    this.#ctx = ctx;
    this.#s = settings;
    // Every waiting pop() listens on it.
    setMaxListeners(0, this.#closed.signal);
    this.#txns = new QueueTxns(ctx, settings.name, settings.deadLetter, (rev) => this.noteWrite(rev));
    this.#settlements = new Settlements(this.#txns, settings, ctx.closedSignal, this.stats);
    this.#view = new QueueView(
      ctx,
      queuePrefix(settings.name),
      () => this.#onViewChange(),
      () => undefined,
      // After a store reset, revisions written on the old history mean nothing (issue 16).
      () => (this.#writtenRevision = 0n),
    );
  }

  /**
   * Waits for a job and claims it.
   *
   * @throws AbortedError when `signal` aborts, `timeoutMs` passes (message "timed out"), or the queue closes
   */
  async pop(opts: WaitOptions): Promise<Job<T>> {
    const wait = withDeadline(opts.signal, opts.timeoutMs, this.#closed.signal);
    try {
      this.#starting ??= this.#view.start(this.#closed.signal).then(
        async () => {
          await this.#register();
          this.#started = true;
          this.#pump();
        },
        (err: unknown) => {
          this.#starting = undefined;
          throw err;
        },
      );
      await raceAbort(this.#starting, wait.signal, `queue "${this.#s.name}": pop`);
      return await new Promise<Job<T>>((resolve, reject) => {
        const waiter: Waiter<T> = { resolve };
        const onAbort = () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(abortError(wait.signal, `queue "${this.#s.name}": pop`));
        };
        if (wait.signal.aborted) return onAbort();
        wait.signal.addEventListener('abort', onAbort, { once: true });
        waiter.resolve = (job) => {
          wait.signal.removeEventListener('abort', onAbort);
          resolve(job);
        };
        this.#waiters.push(waiter);
        this.#pump();
      });
    } finally {
      wait.dispose();
    }
  }

  /**
   * Stops the watch, fails waiting pops, releases claims of jobs not yet settled (uncounted), and waits up
   * to one request timeout for settles still being retried. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort(new AbortedError(`queue "${this.#s.name}" closed`));
    if (this.#pauseTimer) clearTimeout(this.#pauseTimer);
    if (this.#rankTimer) clearTimeout(this.#rankTimer);
    const timeoutMs = this.#ctx.requester.requestTimeoutMs;
    await Promise.allSettled([
      ...[...this.#active.values()].map((claim) => this.settle(claim, 'release', 0).run({ timeoutMs })),
      ...this.#settlements.waitAll(timeoutMs),
      this.#me === ''
        ? undefined
        : this.#ctx.requester
            .run(`queue "${this.#s.name}": unregister`, (o) =>
              this.#ctx.client.kv.deleteRange({ key: this.#txns.key('consumers', this.#me) }, o),
            )
            .catch(() => undefined),
    ]);
    this.#view.close();
  }

  #onViewChange(): void {
    if (this.#uncertain.size > 0) this.#sweepUncertain();
    this.#pump();
  }

  /** Starts one claim attempt per waiter that has none yet, each on a different item. */
  #pump(): void {
    if (!this.#started || this.#pauseTimer || this.#closed.signal.aborted) return;
    if (this.#view.revision < this.#writtenRevision) return; // the watch delivers it soon, and pumps again
    while (this.#attempting < this.#waiters.length) {
      const { entry: e, wakeAt } = this.#view.pick(Math.round(this.#spread), this.#me, 2 * this.#rttMs);
      if (!e) {
        if (wakeAt !== undefined) this.#armRankTimer(wakeAt);
        return;
      }
      e.inFlight = true;
      this.#attempting++;
      void this.#attempt(e).finally(() => {
        e.inFlight = false;
        this.#attempting--;
        this.#pump();
      });
    }
  }

  /** Pumps again when an item passed over for its rank becomes this consumer's turn. */
  #armRankTimer(at: number): void {
    if (this.#rankTimer && this.#rankTimerAt <= at) return;
    if (this.#rankTimer) clearTimeout(this.#rankTimer);
    this.#rankTimerAt = at;
    this.#rankTimer = setTimeout(
      () => {
        this.#rankTimer = undefined;
        this.#rankTimerAt = Number.POSITIVE_INFINITY;
        this.#pump();
      },
      Math.max(0, at - performance.now()),
    );
  }

  /**
   * Registers this consumer (a key under its session lease) so the others rank it for fresh items. One
   * put per session, none per job; a failure only costs contention, so it is not fatal.
   */
  #register(): Promise<void> {
    this.#registering ??= (async () => {
      try {
        const session = await this.#ctx.currentSession({ signal: this.#closed.signal });
        if (session.leaseId === this.#registeredLease) return;
        const id = leaseHex(session.leaseId);
        await this.#ctx.requester.run(
          `queue "${this.#s.name}": register consumer`,
          (o) =>
            this.#ctx.client.kv.put(
              {
                key: this.#txns.key('consumers', id),
                value: Buffer.alloc(0),
                lease: session.leaseId.toString(),
              },
              o,
            ),
          { signal: this.#closed.signal, write: true },
        );
        this.#me = id;
        this.#registeredLease = session.leaseId;
      } catch {
        // Unregistered, this consumer is just not given first turns; it can still claim anything.
      } finally {
        this.#registering = undefined;
      }
    })();
    return this.#registering;
  }

  /** Backs off after an error, so an unreachable etcd is not hammered by the pump. */
  #pause(): void {
    if (this.#pauseTimer || this.#closed.signal.aborted) return;
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = undefined;
      this.#pump();
    }, this.#backoff.next());
  }

  async #attempt(e: Entry): Promise<void> {
    const gen = e.gen;
    const itemKey = this.#txns.key('items', e.rel);
    const claimKey = this.#txns.key('claims', e.rel);
    const compare: ICompare[] = [
      { key: itemKey, target: 'Mod', result: 'Equal', mod_revision: e.modRevision.toString() },
      cmpCreate(claimKey, 0n),
    ];
    try {
      if (e.header.a >= this.#s.maxAttempts) {
        // Its last delivery ended without ack or nack (the consumer died): it is dead.
        const res = await this.#txns.txn(`queue "${this.#s.name}": dead-letter`, compare, [
          { request_delete_range: { key: itemKey } },
          this.#txns.deadLetterPut(e.rel, e.createRevision, e.header.a, e.payload),
        ]);
        if (res.succeeded) {
          this.stats.deadLettered++;
          this.#wrote(res);
        } else this.#lost(e, gen);
        return;
      }
      const session = await this.#ctx.currentSession({ signal: this.#closed.signal });
      if (session.leaseId !== this.#registeredLease) void this.#register();
      const header: ItemHeader = { ...e.header, a: e.header.a + 1 };
      const nonce = newToken();
      let res: ITxnResponse;
      const sentAt = performance.now();
      try {
        res = await this.#txns.txn(`queue "${this.#s.name}": claim`, compare, [
          { request_put: { key: itemKey, value: encodeItem(header, e.payload) } },
          { request_put: { key: claimKey, value: Buffer.from(nonce), lease: session.leaseId.toString() } },
        ]);
      } catch (err) {
        if (err instanceof UnavailableError && err.mayHaveApplied) {
          this.#uncertain.set(e.rel, nonce);
          // The watch may have shown the claim before this error came back (a lost reply, not a lost
          // request): look now, or nothing looks again until the queue changes.
          this.#sweepUncertain();
        }
        throw err;
      }
      this.#backoff.reset();
      this.#rttMs = 0.8 * this.#rttMs + 0.2 * Math.min(100, performance.now() - sentAt);
      if (!res.succeeded) return this.#lost(e, gen);
      this.stats.claimed++;
      this.#wrote(res);
      // Shrink slowly: contention that was seen is likely to continue.
      this.#spread = Math.max(1, this.#spread * 0.9);
      const claim: JobClaim = {
        rel: e.rel,
        createRevision: e.createRevision,
        claimRevision: headerRevision(res.header),
        leaseId: session.leaseId,
        header,
        payload: e.payload,
      };
      this.#deliver(claim, e, session.signal);
    } catch {
      // etcd unreachable or the session could not be renewed: back off; the pump tries again.
      if (!this.#closed.signal.aborted) this.#pause();
    }
  }

  /**
   * Our own write at this revision: until the watch has delivered it, the local picture is older than what
   * this process knows (a nacked job would look claimed, an acked one visible), so picking waits for it.
   * This gives one consumer its own writes in order, hence strict FIFO.
   */
  #wrote(res: ITxnResponse): void {
    this.noteWrite(headerRevision(res.header));
  }

  /** A write to this queue by the same handle (a push): picking waits until the watch has delivered it. */
  noteWrite(revision: bigint): void {
    if (revision > this.#writtenRevision) this.#writtenRevision = revision;
  }

  #lost(e: Entry, gen: number): void {
    this.stats.wasted++;
    e.lostGen = gen;
    this.#spread = Math.min(MAX_SPREAD, this.#spread * 2);
  }

  #deliver(claim: JobClaim, e: Entry, signal: AbortSignal): void {
    let payload: T;
    try {
      payload = decodePayload(claim.payload, this.#s.codec);
    } catch {
      // Undecodable: counted as a failed delivery, so it ends in the dead-letter queue after maxAttempts.
      void this.settle(claim, 'nack', 0)
        .run()
        .catch(() => undefined);
      return;
    }
    const waiter = this.#waiters.shift();
    if (!waiter || this.#closed.signal.aborted) {
      // The pop that wanted it gave up meanwhile: give the job back without counting the delivery.
      void this.settle(claim, 'release', 0)
        .run()
        .catch(() => undefined);
      return;
    }
    this.#active.set(claim.rel, claim);
    waiter.resolve(
      new Job<T>(this, claim, {
        id: itemId(claim.createRevision, claim.rel),
        payload,
        priority: e.priority,
        signal,
      }),
    );
  }

  /**
   * @internal {@link Job.ack} / `nack` / `release`: the one settle of a claim. It leaves the active set at
   * once, so `close()` never gives back a job whose ack is being retried.
   */
  settle(claim: JobClaim, kind: SettleKind, delayMs: number): Settlement {
    // Only this delivery's entry: a stale one (its claim lost, the item claimed again by this handle since)
    // must not make close() forget the live delivery, whose claim would then hide the job until its lease ends.
    if (this.#active.get(claim.rel) === claim) this.#active.delete(claim.rel);
    return this.#settlements.start(claim, kind, delayMs);
  }

  /**
   * A claim txn that got no answer may have applied: its claim (under our lease) would hide the item until
   * the lease ends. Once the watch shows that claim (recognised by its nonce), give the item back.
   */
  #sweepUncertain(): void {
    for (const [rel, nonce] of this.#uncertain) {
      const entry = this.#view.get(rel);
      const claim = this.#view.claim(rel);
      if (!entry) {
        this.#uncertain.delete(rel);
        continue;
      }
      if (!claim) continue;
      this.#uncertain.delete(rel);
      if (claim.value.toString() !== nonce || this.#active.has(rel)) continue;
      const lost: JobClaim = {
        rel,
        createRevision: entry.createRevision,
        claimRevision: claim.createRevision,
        leaseId: claim.leaseId,
        header: entry.header,
        payload: entry.payload,
      };
      void this.settle(lost, 'release', 0)
        .run()
        .catch(() => undefined);
    }
  }
}
