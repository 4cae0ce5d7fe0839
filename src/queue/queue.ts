import { setMaxListeners } from 'node:events';
import type { CoordContext } from '../core/context.js';
import { withDeadline, type WaitOptions } from '../core/deadline.js';
import { AbortedError, InvalidArgumentError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import {
  assertInteger,
  assertName,
  assertOptionalBoolean,
  assertOptionalDuration,
  assertOptionalSignal,
  assertValueSize,
} from '../core/validate.js';
import { Room } from './bounded.js';
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
import type { JobHandler, ProcessOptions, PushOptions, QueueOptions } from './options.js';
import { peekItem, type PeekedJob } from './peek.js';
import { assertBatchSize, MAX_PUSH_MANY, pushBatch } from './push-many.js';
import { pushOne } from './push-one.js';
import { runWorkers } from './process.js';
import { removeItem } from './remove.js';

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
  /** The bound of a bounded queue (jobs in it, claimed included), or `undefined`. */
  readonly maxSize: number | undefined;
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
    if (opts.maxSize !== undefined) assertInteger(opts.maxSize, 'maxSize', 1, 1_000_000_000);
    this.maxSize = opts.maxSize;
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
   * @throws QueueFullError on a full bounded queue (`maxSize`) with `wait: false`, or when it stayed full
   *   until `timeoutMs`: nothing was enqueued
   */
  async push(payload: T, opts: PushOptions = {}): Promise<string> {
    const priority = opts.priority ?? 0;
    assertInteger(priority, 'priority', 0, MAX_PRIORITY);
    assertOptionalDuration(opts.delayMs, 'delayMs');
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    assertOptionalSignal(opts.signal);
    assertOptionalBoolean(opts.wait, 'wait');
    this.#throwIfClosed();
    const bytes = encodePayload(payload, this.#codec);
    const value = encodeItem({ a: 0, v: visibleAt(opts.delayMs) }, bytes);
    const rel = (token: string) => `${queuePrefix(this.name)}items/${priorityBucket(priority)}/${token}`;
    assertValueSize(value, 'payload', Buffer.byteLength(rel(newToken())));
    const res = await pushOne(this.#ctx, {
      queue: this.name,
      key: this.#ctx.keyspace.key(rel(newToken())),
      value,
      room: this.#room(1, opts.wait),
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
    // A pop on this handle after this push sees it: one handle reads its own writes, in order.
    if (res.applied) this.#consumer?.noteWrite(res.revision);
    return res.id;
  }

  /**
   * Adds up to {@link MAX_PUSH_MANY} jobs in ONE txn: all of them or none. Resolves with their ids in the
   * order given; they are served in that order (FIFO among them; one priority and delay for all). The
   * ids are `<revision>.<index>`: the jobs share the txn's revision.
   *
   * @example
   * ```ts
   * const ids = await q.pushMany([{ to: 'a@example.com' }, { to: 'b@example.com' }], { priority: 1 });
   * ```
   *
   * @throws TypeError when `items` is not an array
   * @throws InvalidArgumentError for more than {@link MAX_PUSH_MANY} items (etcd's default 128 operations
   *   per txn, one of them the batch marker), an item that is not JSON (without a codec; the message names
   *   `items[i]`), a batch over etcd's request limit, or bad options: before any request
   * @throws UnavailableError when etcd stays unreachable through the retries or past `timeoutMs`
   *   (`mayHaveApplied`: the batch may be enqueued, whole)
   * @throws QueueFullError on a bounded queue without room for the whole batch, with `wait: false` or
   *   until `timeoutMs` (a batch larger than `maxSize` fails at once)
   * @throws AbortedError when `signal` aborts (an attempt already sent may still enqueue the batch)
   *
   * Failure modes: a retry after an unanswered attempt never enqueues the batch twice, even when the first
   * attempt applied and its jobs were already consumed: the txn also writes a batch marker under the
   * session lease and every attempt is guarded by its absence. If the session lease ends between an
   * unanswered attempt and its retry, the call rejects `UnavailableError` with `mayHaveApplied` instead.
   */
  async pushMany(items: readonly T[], opts: PushOptions = {}): Promise<string[]> {
    if (!Array.isArray(items)) throw new TypeError('Expected `items` to be an array');
    if (items.length > MAX_PUSH_MANY) {
      throw new InvalidArgumentError(
        `Expected \`items\` to hold at most ${MAX_PUSH_MANY} jobs (etcd's 128 operations per txn), got ${items.length}`,
      );
    }
    const priority = opts.priority ?? 0;
    assertInteger(priority, 'priority', 0, MAX_PRIORITY);
    assertOptionalDuration(opts.delayMs, 'delayMs');
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    assertOptionalSignal(opts.signal);
    assertOptionalBoolean(opts.wait, 'wait');
    this.#throwIfClosed();
    const v = visibleAt(opts.delayMs);
    const values = items.map((item, i) =>
      encodeItem({ a: 0, v }, encodePayload(item, this.#codec, `items[${i}]`)),
    );
    if (values.length === 0) return [];
    const keyBytes = Buffer.byteLength(
      this.#ctx.keyspace.key(`${queuePrefix(this.name)}items/000000/${newToken()}.000`),
    );
    assertBatchSize(values, keyBytes);
    const res = await pushBatch(this.#ctx, {
      queue: this.name,
      values,
      bucket: priorityBucket(priority),
      room: this.#room(values.length, opts.wait),
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
    if (res.applied) this.#consumer?.noteWrite(res.revision);
    return res.ids;
  }

  /**
   * Deletes a pending job (visible or delayed) that no consumer has claimed: `true` when this call removed
   * it, `false` when it is not in the queue (never pushed, or already acked / dead-lettered) or is claimed
   * (a claimed job is its consumer's to settle; remove it after a nack, or let the handler skip it). One
   * lookup by id, then one txn guarded by "this job, unclaimed".
   *
   * @example
   * ```ts
   * const id = await q.push(job, { delayMs: 60_000 });
   * if (cancelled) await q.remove(id);
   * ```
   *
   * @throws InvalidArgumentError when `id` is not a job id: before any request
   * @throws UnavailableError when etcd cannot be reached (within `timeoutMs`); with `mayHaveApplied` when
   *   a delete got no answer and the job is gone: it may be this call that removed it
   * @throws AbortedError when `signal` aborts
   */
  async remove(id: string, opts: WaitOptions = {}): Promise<boolean> {
    if (typeof id !== 'string') throw new TypeError('Expected `id` to be a string');
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    return removeItem(this.#ctx, this.name, id, opts);
  }

  /**
   * The job `pop()` would hand out next, without claiming it: the highest-priority, oldest visible job no
   * one has claimed, or `null` when there is none (empty, or only delayed or claimed jobs). One read of
   * the queue's keys (O(jobs) bytes); nothing is written. It may be claimed by the time you look at it.
   *
   * @example
   * ```ts
   * const next = await q.peek();
   * if (next) console.log(`next up: ${next.id}, delivered ${next.attempts} times so far`);
   * ```
   *
   * @throws UnavailableError when etcd cannot be reached (within `timeoutMs`)
   * @throws AbortedError when `signal` aborts
   */
  async peek(opts: WaitOptions = {}): Promise<PeekedJob<T> | null> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    return peekItem(this.#ctx, this.name, { codec: this.#codec, maxAttempts: this.maxAttempts }, opts);
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
    const run = runWorkers((o) => this.pop(o), handler, { ...opts, concurrency }, stop.signal);
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

  /** The room check of a push of `adding` jobs, on a bounded queue. */
  #room(adding: number, wait: boolean | undefined): Room | undefined {
    if (this.maxSize === undefined) return undefined;
    return new Room(this.#ctx.keyspace.prefixRange(`${queuePrefix(this.name)}items/`), {
      maxSize: this.maxSize,
      adding,
      wait: wait ?? true,
      queue: this.name,
      closed: this.#closed.signal,
    });
  }

  #throwIfClosed(): void {
    if (this.#closed.signal.aborted) throw new AbortedError(`queue "${this.name}" is closed`);
  }
}

/** A queue name is a key segment: non-empty, no NUL, no `/` (which would nest one queue in another). */
/** The header's "visible at" for a delay: 0 (at once) without one. */
function visibleAt(delayMs: number | undefined): number {
  return delayMs !== undefined && delayMs > 0 ? Date.now() + delayMs : 0;
}

function assertQueueName(value: unknown, arg: string): asserts value is string {
  assertName(value, arg);
  if (value.includes('/'))
    throw new InvalidArgumentError(`Expected \`${arg}\` not to contain "/", got "${value}"`);
}
