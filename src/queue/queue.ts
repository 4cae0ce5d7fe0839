import { setMaxListeners } from 'node:events';
import type { ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { sleep, withDeadline, type WaitOptions } from '../core/deadline.js';
import { AbortedError, InvalidArgumentError, isTransient, UnavailableError } from '../core/errors.js';
import { GhostSweeper } from '../core/ghost-sweeper.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import {
  assertInteger,
  assertName,
  assertOptionalDuration,
  assertOptionalSignal,
  assertValueSize,
} from '../core/validate.js';
import { queuePrefix } from './claims.js';
import { Consumer, type QueueStats } from './consumer.js';
import {
  MAX_PRIORITY,
  encodeItem,
  encodePayload,
  newToken,
  priorityBucket,
  type QueueCodec,
} from './item.js';
import type { Job } from './job.js';

/** Options of {@link Queue}. */
export interface QueueOptions<T> {
  /** Deliveries before a job moves to the dead-letter queue. Default 5. */
  maxAttempts?: number;
  /** Name of the dead-letter queue (itself a queue). Default `<name>.dead`. */
  deadLetter?: string;
  /** Payload encoding. Default JSON (payloads must then be plain JSON values). */
  codec?: QueueCodec<T>;
}

/** Options of {@link Queue.push}. */
export interface PushOptions {
  /** Integer in [0, 999999]; higher is served first. Default 0. */
  priority?: number;
  /** Not handed out before this many ms from now. Default 0. */
  delayMs?: number;
  /** Gives up: the call rejects `AbortedError` at once (an attempt already sent may still enqueue the job). */
  signal?: AbortSignal | undefined;
  /** Upper bound of the whole call, retries included. Default: the retries' own bound. */
  timeoutMs?: number | undefined;
}

/** Options of {@link Queue.process}. */
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

/**
 * A distributed work queue with at-least-once delivery: a popped job is *claimed* under the consumer's
 * session lease and stays in etcd until acked; if the consumer dies, the claim goes with its lease and the
 * job is handed out again with `attempt + 1`. Higher priority first, FIFO within a priority, delayed jobs,
 * and a dead-letter queue after `maxAttempts` deliveries.
 *
 * @example
 * ```ts
 * const q = coord.queue<{ to: string }>('emails', { maxAttempts: 5 });
 * await q.push({ to: 'a@example.com' }, { priority: 1 });
 * const job = await q.pop({ timeoutMs: 10_000 });
 * await sendMail(job.payload);
 * await job.ack();
 * ```
 *
 * Failure modes: handlers must be idempotent: a consumer that loses its session (crash, pause, partition
 * longer than the TTL) after doing the work but before `ack()` lets the job run again elsewhere. A push
 * whose request gets no answer is retried with the same key, so it is enqueued once unless the first
 * attempt applied *and* was consumed before the retry (then it runs twice). An unanswered attempt applied
 * *late*, after the job was acked, is deleted again by the coordinator's ghost sweeper (bound: one watch
 * notification plus one delete round trip) for as long as the pushing coordinator is open; one applied
 * after the pusher closed, or after a `push()` that rejected `mayHaveApplied`, can run the job again.
 */
export class Queue<T = unknown> {
  /** The queue name, relative to the namespace. */
  readonly name: string;
  /** Deliveries after which a nacked job moves to the dead-letter queue. */
  readonly maxAttempts: number;
  /** The dead-letter queue's name (`<name>.dead` by default). */
  readonly deadLetter: string;
  readonly #ctx: CoordContext;
  readonly #codec: QueueCodec<T> | undefined;
  readonly #closed = new AbortController();
  readonly #processing = new Set<Promise<void>>();
  #consumer: Consumer<T> | undefined;
  #untrack: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  /** @internal use `coord.queue(name, opts)` */
  constructor(ctx: CoordContext, name: string, opts: QueueOptions<T> = {}) {
    assertQueueName(name, 'name');
    const maxAttempts = opts.maxAttempts ?? 5;
    assertInteger(maxAttempts, 'maxAttempts', 1, 1_000_000);
    const deadLetter = opts.deadLetter ?? `${name}.dead`;
    assertQueueName(deadLetter, 'deadLetter');
    if (deadLetter === name)
      throw new InvalidArgumentError('Expected `deadLetter` to differ from the queue name');
    if (
      opts.codec !== undefined &&
      (typeof opts.codec.encode !== 'function' || typeof opts.codec.decode !== 'function')
    ) {
      throw new TypeError('Expected `codec` to have `encode` and `decode` functions');
    }
    this.#ctx = ctx;
    this.name = name;
    this.maxAttempts = maxAttempts;
    this.deadLetter = deadLetter;
    this.#codec = opts.codec;
    // Every process() loop listens on it.
    setMaxListeners(0, this.#closed.signal);
  }

  /** Counters of this handle: claims won, claim attempts wasted on a race, dead letters, acks, nacks. */
  get stats(): Readonly<QueueStats> {
    return this.#consumer?.stats ?? { claimed: 0, wasted: 0, deadLettered: 0, acked: 0, nacked: 0 };
  }

  /**
   * Adds a job; resolves with its id (the create revision of its item key) once etcd has it.
   *
   * @example
   * ```ts
   * const id = await q.push({ to: 'a@example.com' }, { priority: 5, delayMs: 60_000 });
   * ```
   *
   * @throws InvalidArgumentError for a payload that is not JSON (without a codec) or over etcd's request
   *   limit, a priority outside [0, 999999], a negative delay: before any request
   * @throws UnavailableError when etcd stays unreachable through the retries or past `timeoutMs`
   *   (`mayHaveApplied`: the job may be enqueued)
   * @throws AbortedError when `signal` aborts (an attempt already sent may still enqueue the job)
   */
  async push(payload: T, opts: PushOptions = {}): Promise<string> {
    const priority = opts.priority ?? 0;
    assertInteger(priority, 'priority', 0, MAX_PRIORITY);
    assertOptionalDuration(opts.delayMs, 'delayMs');
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    assertOptionalSignal(opts.signal);
    this.#throwIfClosed();
    const bytes = encodePayload(payload, this.#codec);
    const delayMs = opts.delayMs ?? 0;
    const value = encodeItem({ a: 0, v: delayMs > 0 ? Date.now() + delayMs : 0 }, bytes);
    const rel = (token: string) => `${queuePrefix(this.name)}items/${priorityBucket(priority)}/${token}`;
    assertValueSize(value, 'payload', Buffer.byteLength(rel(newToken())));
    const what = `queue "${this.name}": push`;
    const key = this.#ctx.keyspace.key(rel(newToken()));
    // Guarded by "key absent", so a retry after an unanswered request does not enqueue twice. The guard
    // passes again once the job is acked: an ambiguous attempt arms the sweeper (once mode) so that a
    // late-applied one cannot enqueue the done job again while this coordinator is open.
    const sweeper = GhostSweeper.of(this.#ctx);
    const hold = sweeper.hold(key);
    try {
      const id = await this.#pushOnce(key, value, what, opts, sweeper);
      sweeper.own(key, id.own);
      return id.id;
    } finally {
      hold();
    }
  }

  async #pushOnce(
    key: Buffer,
    value: Buffer,
    what: string,
    opts: PushOptions,
    sweeper: GhostSweeper,
  ): Promise<{ id: string; own: bigint | null }> {
    let uncertain = false;
    let inFlight = false;
    const res: ITxnResponse = await withRetry(
      async (_, attempt) => {
        inFlight = true;
        try {
          return await this.#ctx.requester.run(
            what,
            (o) =>
              this.#ctx.client.kv.txn(
                {
                  compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
                  success: [{ request_put: { key, value } }],
                  failure: [{ request_range: { key, keys_only: true } }],
                },
                o,
              ),
            { signal: attempt.signal, write: true, timeoutMs: attempt.remainingMs },
          );
        } catch (err) {
          if (err instanceof UnavailableError && err.mayHaveApplied) {
            uncertain = true;
            const alive = this.#ctx.closedSignal;
            sweeper.arm(key, { leaseId: 0n, alive, what, once: {} });
          }
          throw err;
        } finally {
          inFlight = false;
        }
      },
      {
        signal: opts.signal,
        timeoutMs: opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs,
        shouldRetry: isTransient,
        what,
      },
    ).catch((err: unknown) => {
      // The deadline may pass with an attempt in flight, or after one that got no answer: the job may be
      // enqueued, and the error must say so.
      if (err instanceof UnavailableError && !err.mayHaveApplied && (uncertain || inFlight)) {
        // Not the last attempt's message: it may say "it was not applied" of itself alone (a refusal).
        const why = inFlight
          ? 'the deadline passed with an attempt in flight'
          : 'an earlier attempt got no answer';
        throw new UnavailableError(`${what}: ${why} (the push may have been applied)`, {
          cause: err,
          mayHaveApplied: true,
        });
      }
      throw err;
    });
    if (res.succeeded) {
      // A pop on this handle after this push sees it: one handle reads its own writes, in order.
      this.#consumer?.noteWrite(headerRevision(res.header));
      return { id: headerRevision(res.header).toString(), own: headerRevision(res.header) };
    }
    const kv = res.responses[0]?.response_range.kvs[0];
    if (kv) return { id: BigInt(kv.create_revision).toString(), own: BigInt(kv.create_revision) };
    // An earlier attempt applied and the job was already consumed and acked: it is done, and pushing it
    // again would run it twice. Its id is gone with its key; the retry's revision is an upper bound of it.
    return { id: headerRevision(res.header).toString(), own: null };
  }

  /**
   * Waits for a job and claims it under the session lease. Blocks on the queue's watch (shared by every
   * `pop()` of this handle), never polls.
   *
   * @example
   * ```ts
   * const job = await q.pop({ signal, timeoutMs: 30_000 });
   * ```
   *
   * @throws AbortedError when `signal` aborts, when `timeoutMs` passes (the message says "timed out"; the
   *   cause is a `DeadlineExceeded`), or when the queue closes
   * @throws UnavailableError when the queue's first snapshot cannot be read
   */
  async pop(opts: WaitOptions = {}): Promise<Job<T>> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    this.#throwIfClosed();
    if (!this.#consumer) {
      this.#consumer = new Consumer<T>(this.#ctx, {
        name: this.name,
        maxAttempts: this.maxAttempts,
        deadLetter: this.deadLetter,
        codec: this.#codec,
      });
      this.#untrack = this.#ctx.track(this);
    }
    return this.#consumer.pop(opts);
  }

  /**
   * Runs `handler` on jobs, `concurrency` at a time, until `signal` aborts or the queue closes: a handler
   * that resolves acks its job, one that throws nacks it (unless the handler settled the job itself).
   *
   * @example
   * ```ts
   * await q.process(async (job, signal) => { await send(job.payload, { signal }); }, { concurrency: 4, signal });
   * ```
   *
   * @throws InvalidArgumentError for a bad `concurrency` or `retryDelayMs`, before any request
   */
  async process(handler: JobHandler<T>, opts: ProcessOptions<T> = {}): Promise<void> {
    if (typeof handler !== 'function') throw new TypeError('Expected `handler` to be a function');
    const concurrency = opts.concurrency ?? 1;
    assertInteger(concurrency, 'concurrency', 1, 10_000);
    assertOptionalDuration(opts.retryDelayMs, 'retryDelayMs');
    assertOptionalSignal(opts.signal);
    this.#throwIfClosed();
    const stop = withDeadline(opts.signal, undefined, this.#closed.signal);
    setMaxListeners(0, stop.signal);
    const report = (err: unknown, job: Job<T> | undefined) => {
      try {
        opts.onError?.(err, job);
      } catch {
        // A throwing error reporter must not stop the loop.
      }
    };
    const loop = async () => {
      let failures = 0;
      while (!stop.signal.aborted) {
        let job: Job<T>;
        try {
          job = await this.pop({ signal: stop.signal });
          failures = 0;
        } catch (err) {
          if (stop.signal.aborted) return;
          report(err, undefined);
          await sleep(Math.min(2000, 50 * 2 ** failures++), stop.signal).catch(() => undefined);
          continue;
        }
        const jobStop = withDeadline(stop.signal, undefined, job.signal);
        try {
          await handler(job, jobStop.signal);
          if (!job.settled) await job.ack();
        } catch (err) {
          report(err, job);
          if (!job.settled)
            await job.nack({ delayMs: opts.retryDelayMs ?? 0 }).catch((e: unknown) => report(e, job));
        } finally {
          jobStop.dispose();
        }
      }
    };
    const run = Promise.all(Array.from({ length: concurrency }, loop)).then(() => undefined);
    this.#processing.add(run);
    try {
      await run;
    } finally {
      this.#processing.delete(run);
      stop.dispose();
    }
  }

  /**
   * Number of jobs in the queue: visible, delayed and claimed (one count request, retried on transient
   * errors within `timeoutMs`).
   *
   * @example
   * ```ts
   * const backlog = await q.size({ timeoutMs: 2000 });
   * ```
   *
   * @throws UnavailableError when etcd cannot be reached (within `timeoutMs`)
   * @throws AbortedError when `signal` aborts
   */
  async size(opts: WaitOptions = {}): Promise<number> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const what = `queue "${this.name}": size`;
    const range = this.#ctx.keyspace.prefixRange(`${queuePrefix(this.name)}items/`);
    const res = await withRetry(
      (_, attempt) =>
        this.#ctx.requester.run(
          what,
          (o) => this.#ctx.client.kv.range({ key: range.key, range_end: range.end, count_only: true }, o),
          { signal: attempt.signal, timeoutMs: attempt.remainingMs },
        ),
      {
        signal: opts.signal,
        timeoutMs: opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs,
        what,
        retries: 3,
      },
    );
    return Number(res.count);
  }

  /**
   * Stops: waiting pops fail with `AbortedError`, `process()` loops stop (their handlers are awaited), and
   * jobs popped but not settled are given back without counting the delivery. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort(new AbortedError(`queue "${this.name}" closed`));
      await Promise.allSettled([...this.#processing]);
      await this.#consumer?.close();
      this.#untrack?.();
    })();
    return this.#closing;
  }

  /** The same as {@link Queue.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #throwIfClosed(): void {
    if (this.#closed.signal.aborted) throw new AbortedError(`queue "${this.name}" is closed`);
  }
}

/** A queue name is a key segment: non-empty, no NUL, no `/` (which would nest one queue in another). */
function assertQueueName(value: unknown, arg: string): asserts value is string {
  assertName(value, arg);
  if (value.includes('/'))
    throw new InvalidArgumentError(`Expected \`${arg}\` not to contain "/", got "${value}"`);
}
