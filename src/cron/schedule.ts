import type { ICompare } from 'etcd3';
import { EventEmitter } from 'eventemitter3';
import { Cron } from 'croner';
import { hostname } from 'node:os';
import type { CoordContext } from '../core/context.js';
import { sleep } from '../core/deadline.js';
import { InvalidArgumentError, isTransient, LockLostError, SessionExpiredError } from '../core/errors.js';
import {
  assertName,
  assertOptionalDuration,
  assertOptionalSignal,
  assertOptions,
  assertTtlSeconds,
} from '../core/validate.js';
import { once } from '../election/once.js';
import { assertJob } from '../election/once-keys.js';
import type { OnceRecord } from '../election/once-record.js';
import { SlotSkipped } from '../election/once-record.js';
import { cronHistory, newestSlotTime, type CronHistoryEntry } from './history.js';
import { OVERLAP_TOLERANCE_MS, withOverlapPolicy, type OverlapPolicy } from './overlap.js';
import { planSlots } from './plan.js';
import { slotId } from './slot-id.js';

/** A slot older than `jitterMs` + this is never declared missed at start-up (another host may be starting it). */
const GRACE_MS = 5_000;
/**
 * Records must outlive the window by this much: a host whose clock is behind (or that restarts) looks back
 * by slot time on its own clock, while records are swept by finish time (breaker b-cron F3: at the old
 * floor a host 1.5 s slow re-ran slots whose records had just been swept).
 */
const RETAIN_MARGIN_MS = 60_000;
/** The longest single timer (setTimeout holds at most 2^31 - 1 ms; longer waits are taken in steps). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Missed slots recorded at most (the newest), after a long outage. */
const MAX_MISSED = 100;
/** Due slots run at most per wake-up (the newest), so a per-second schedule with a long catch-up window is bounded. */
const MAX_DUE = 10_000;

/** A slot to handle: its time, whether it is known missed, and when (monotonic ms) its window closes. */
interface SlotItem {
  at: number;
  missed: boolean;
  expires: number;
}

/** Options of {@link schedule}. */
export interface ScheduleOptions {
  /** IANA timezone the expression is read in. Default `UTC`. */
  timezone?: string | undefined;
  /** Run slots missed within this window after an outage, oldest first; older ones are recorded `skipped`. Default 0. */
  catchUpMs?: number | undefined;
  /** What a slot does while the previous run still goes (on any host). Default `skip`. */
  overlap?: OverlapPolicy | undefined;
  /** Each host starts a slot up to this much after its time (random): spreads the herd. Default 0. */
  jitterMs?: number | undefined;
  /** Stops the schedule (as `close()`); a run in progress gets its signal aborted and is recorded `interrupted`. */
  signal?: AbortSignal | undefined;
  /** Recorded as the runner. Default `os.hostname()`. */
  host?: string | undefined;
  /** Hold each slot under a separate lease with this TTL (how soon a killed runner's slot is re-run). */
  ttlSeconds?: number | undefined;
  /**
   * Delete this job's records finished more than `retainMs` ago. Must exceed `catchUpMs + jitterMs` + 65 s:
   * a slot whose record is gone looks never run and would be caught up again. Default: kept for ever.
   */
  retainMs?: number | undefined;
  /** The clock, in ms since the epoch (tests inject skew). Default `Date.now`. */
  clock?: (() => number) | undefined;
}

/** What the job is told about its slot. */
export interface CronRun {
  /** The slot id: the scheduled time, ISO 8601 in the schedule's timezone. */
  slot: string;
  /** The scheduled time. */
  scheduledAt: Date;
  /** Aborted when the slot is lost, cancelled by a newer slot, or the schedule closes. */
  signal: AbortSignal;
  /** 1 for the first attempt, 2 after a crashed one, … */
  attempt: number;
  /** The slot's fencing token (its lock key's create revision). */
  fencingToken: bigint;
  /**
   * "This host still holds the slot" as a raw etcd `Compare`, for guarded txns: a runner resumed after a
   * pause past its lease may run one more step before `signal` aborts, so guard shared writes with this (or
   * the fencing token), never with `signal.aborted`.
   */
  guard: ICompare;
}

/** Events of a {@link CronJob}. */
export interface CronEvents {
  /** This host ran the slot. */
  ran: [CronRanEvent];
  /** Not run here: done by another host, or recorded skipped (`reason`: missed, overlap). */
  skipped: [CronSkippedEvent];
  /** The run failed (here or, for `record`, on another host), or the slot could not be handled. */
  failed: [CronFailedEvent];
}

/** A slot this host ran. */
export interface CronRanEvent {
  /** The slot id. */
  slot: string;
  /** What the job returned. */
  value: unknown;
  /** The slot's record after the run. */
  record: OnceRecord;
}

/** A slot this host did not run. */
export interface CronSkippedEvent {
  /** The slot id. */
  slot: string;
  /** `done` (run by a host, maybe this one earlier), or why it was recorded skipped (`missed: …`, `overlap: …`). */
  reason: string;
  /** The slot's record. */
  record: OnceRecord;
}

/** A slot whose run failed, or that could not be handled. */
export interface CronFailedEvent {
  /** The slot id. */
  slot: string;
  /** What failed here (the job's error, or etcd unreachable); absent when the record tells (failed elsewhere). */
  error?: unknown;
  /** The slot's record, when one was read. */
  record?: OnceRecord;
}

/**
 * A cron schedule whose every slot runs once across the hosts running it (see {@link schedule}).
 *
 * @example
 * ```ts
 * const job = schedule(coord, 'nightly-report', '0 3 * * *', async ({ slot, signal }) => report(slot, signal));
 * job.on('failed', ({ slot, error }) => log.warn({ slot, error }));
 * await job.close();
 * ```
 *
 * Failure modes: see {@link schedule}.
 */
export class CronJob extends EventEmitter<CronEvents> {
  /** The job name (its once records are under `once/<name>/`). */
  readonly name: string;
  /** The cron expression. */
  readonly expression: string;
  /** The IANA timezone the expression is read in. */
  readonly timezone: string;
  readonly #ctx: CoordContext;
  readonly #cron: Cron;
  readonly #fn: (run: CronRun) => Promise<unknown>;
  readonly #opts: ScheduleOptions;
  readonly #clock: () => number;
  readonly #stop = new AbortController();
  readonly #running = new Set<Promise<void>>();
  /** Slots whose handling failed on etcd being out of reach: looked at again at the next wake-up. */
  readonly #retry = new Map<number, number>();
  /** Slots of a catch-up in progress, oldest first. */
  readonly #backlog: SlotItem[] = [];
  #draining = false;
  #loop: Promise<void> | undefined;

  /** Slots older than this are missed, not run (never narrower than jitter + grace: see plan.ts). */
  get #window(): number {
    return Math.max(this.#opts.catchUpMs ?? 0, (this.#opts.jitterMs ?? 0) + GRACE_MS);
  }

  /** @internal use {@link schedule} */
  constructor(
    ctx: CoordContext,
    name: string,
    expression: string,
    fn: (run: CronRun) => Promise<unknown>,
    opts: ScheduleOptions,
  ) {
    super();
    this.#ctx = ctx;
    this.name = name;
    this.expression = expression;
    this.timezone = opts.timezone ?? 'UTC';
    this.#fn = fn;
    this.#opts = opts;
    this.#clock = opts.clock ?? Date.now;
    try {
      this.#cron = new Cron(expression, { paused: true, timezone: this.timezone });
    } catch (err) {
      throw new InvalidArgumentError(
        `Expected \`expression\` to be a cron expression: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    const onAbort = () => this.#stop.abort(opts.signal?.reason);
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    this.#stop.signal.addEventListener('abort', () => opts.signal?.removeEventListener('abort', onAbort), {
      once: true,
    });
  }

  /** @internal */
  start(): this {
    this.#loop = this.#run().catch(() => undefined);
    return this;
  }

  /**
   * Recent slots of this job, newest first, from the once records (any host's runs, skips and misses).
   *
   * @example
   * ```ts
   * for (const h of await job.history({ limit: 5 })) console.log(h.slot, h.state, h.host, h.attempts);
   * ```
   *
   * @throws UnavailableError / CompactedError as `coord.range()` does
   */
  async history(opts: { limit?: number; signal?: AbortSignal } = {}): Promise<CronHistoryEntry[]> {
    return cronHistory(this.#ctx, this.name, opts);
  }

  /** Stops scheduling; runs in progress here get their signal aborted (recorded `interrupted`). Idempotent. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#cron.stop();
    await this.#loop;
    await Promise.all([...this.#running]);
  }

  /** `await using job = schedule(…)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The scheduled times in (`after`, `until`], oldest first (ms): at most the newest MAX_DUE + MAX_MISSED. */
  #runsBetween = (after: number, until: number): number[] =>
    this.#cron
      .previousRuns(MAX_DUE + MAX_MISSED, new Date(until + 1))
      .map((d) => d.getTime())
      .filter((t) => t > after)
      .reverse();

  async #run(): Promise<void> {
    const stop = this.#stop.signal;
    const jitterMs = this.#opts.jitterMs ?? 0;
    // Where to start: after the newest recorded slot, so an outage's slots are caught up (within the window)
    // or recorded missed (older); a job with no record has nothing to catch up.
    let after: number | undefined;
    while (after === undefined) {
      try {
        const newest = await newestSlotTime(this.#ctx, this.name, stop);
        // A new job (no record yet) starts with its next slot: there was no outage to catch up on.
        after = newest === undefined ? this.#clock() : Math.min(newest, this.#clock() - this.#window);
      } catch {
        // etcd unreachable at start-up: try again (the first slot's once() would fail the same way).
        await sleep(1_000, stop, 'cron').catch(() => undefined);
        if (stop.aborted) return;
      }
    }
    // Start-up is the one time slots are declared missed from the schedule alone: the newest record says
    // what ran, the clock what is too old to catch up.
    const now = this.#clock();
    const plan = planSlots(this.#runsBetween, {
      now,
      after,
      catchUpMs: this.#opts.catchUpMs ?? 0,
      jitterMs,
      graceMs: GRACE_MS,
      maxMissed: MAX_MISSED,
    });
    after = Math.max(after, now);
    const mono = performance.now();
    this.#drain([
      ...plan.missed.map((at) => ({ at, missed: true, expires: mono })),
      // What is left of each due slot's window, by the clock at start-up; from here on, monotonic time.
      ...plan.due.map((at) => ({ at, missed: false, expires: mono + this.#window - (now - at) })),
    ]);
    while (!stop.aborted) {
      const next = this.#cron.nextRun(new Date(after));
      if (!next) return;
      const at = next.getTime();
      const wakeAt = at + Math.random() * jitterMs;
      // In steps a timer can hold (a yearly slot is past setTimeout's 24.8-day limit, which Node turns
      // into 1 ms: the loop then ran future years' slots at once), and again if the clock went back.
      while (!stop.aborted && this.#clock() < wakeAt)
        await sleep(Math.min(MAX_TIMER_MS, wakeAt - this.#clock()), stop, 'cron').catch(() => undefined);
      if (stop.aborted) return;
      // One slot per wake-up, even when the clock jumped or the loop stalled: a slot is never declared
      // missed from this host's clock alone while it runs (breaker b-cron F2: a clock stepping forward
      // recorded future slots missed). Slots far behind are caught up one after the other instead.
      after = at;
      const again = [...this.#retry].map(([t, expires]) => ({ at: t, missed: false, expires }));
      this.#retry.clear();
      // A slot this host reached while running is never declared missed for being late: it waits its turn
      // (a wall clock that jumped, or a slow etcd, only delays it). Only a failed one gets a window, on the
      // monotonic clock (see the catch below).
      const item = { at, missed: false, expires: Infinity };
      const behind = this.#clock() - at > jitterMs + OVERLAP_TOLERANCE_MS;
      if (again.length > 0 || behind || this.#draining) this.#drain([...again, item]);
      else this.#track(this.#slot(item, this.#opts.overlap ?? 'skip'));
    }
  }

  /**
   * Handles slots one after the other, oldest first (a catch-up, retries, a host running behind), under the
   * `wait` policy: they are late by definition, and skipping one for its neighbour's run would lose the slots
   * the catch-up exists to run. Slots that come due meanwhile join the queue, so nothing overtakes it. A
   * start-up or failed slot whose window closed while it waited is recorded missed; the queue holds at most
   * MAX_DUE slots (the oldest beyond are recorded missed).
   */
  #drain(items: SlotItem[]): void {
    this.#backlog.push(...items);
    this.#backlog.sort((x, y) => x.at - y.at);
    // Bounded: beyond MAX_DUE queued slots the oldest are recorded missed (a job that never keeps up).
    for (let i = 0; i < this.#backlog.length - MAX_DUE; i++) this.#backlog[i]!.missed = true;
    if (this.#draining || this.#backlog.length === 0) return;
    this.#draining = true;
    this.#track(
      (async () => {
        try {
          for (let item = this.#backlog.shift(); item; item = this.#backlog.shift()) {
            if (this.#stop.signal.aborted) break;
            await this.#slot(item, 'wait');
          }
        } finally {
          this.#draining = false;
        }
      })(),
    );
  }

  #track(p: Promise<void>): void {
    const tracked = p.finally(() => this.#running.delete(tracked));
    this.#running.add(tracked);
  }

  async #slot(item: SlotItem, policy: OverlapPolicy): Promise<void> {
    const { at } = item;
    const missed = item.missed || performance.now() > item.expires;
    const slot = slotId(new Date(at), this.timezone);
    try {
      const r = await once(
        this.#ctx,
        this.name,
        {
          slot,
          signal: this.#stop.signal,
          host: this.#opts.host,
          ttlSeconds: this.#opts.ttlSeconds,
          retainMs: this.#opts.retainMs,
        },
        async (signal, s) => {
          if (missed) throw new SlotSkipped('missed: outside the catch-up window');
          return withOverlapPolicy(
            this.#ctx,
            this.name,
            policy,
            signal,
            (runSignal) =>
              this.#fn({
                slot,
                scheduledAt: new Date(at),
                signal: runSignal,
                attempt: s.attempt,
                fencingToken: s.fencingToken,
                guard: s.guard,
              }),
            this.#opts.ttlSeconds,
          );
        },
      );
      if (r.status === 'ran') this.emit('ran', { slot, value: r.value, record: r.record });
      else if (r.status === 'skipped') {
        const reason = r.record.state === 'skipped' ? (r.record.attempts.at(-1)?.error ?? 'skipped') : 'done';
        this.emit('skipped', { slot, reason, record: r.record });
      } else this.emit('failed', { slot, record: r.record });
    } catch (error) {
      if (this.#stop.signal.aborted) return;
      // etcd out of reach (or the slot lost before anything ran): look at the slot again at the next
      // wake-up — caught up while within the window, recorded missed after (breaker b-cron F1: such slots
      // were lost without a record). A job that threw is recorded by once() and not retried.
      if (isTransient(error) || error instanceof SessionExpiredError || error instanceof LockLostError)
        this.#retry.set(at, Number.isFinite(item.expires) ? item.expires : performance.now() + this.#window);
      this.emit('failed', { slot, error });
    }
  }
}

/**
 * A distributed cron: runs `fn` for every slot of `expression` exactly once across every host that runs
 * the same schedule. A slot is named by its **scheduled time** (ISO 8601 in `timezone`), computed from the
 * expression, never from the local clock at firing time, so hosts with skewed clocks agree on it; each slot
 * goes through {@link once} (one run per slot; a runner killed mid-run is re-run by another host and both
 * attempts are in the record). Each host keeps one timer, for its next slot — no polling.
 *
 * Expressions are parsed by `croner` (5 or 6 fields, seconds first when 6; `L`, `#`, `W`; nicknames such
 * as `@daily`), with DST handled in `timezone`: a time that does not exist on a spring-forward day runs at
 * the next existing one, a time that exists twice on a fall-back day runs once.
 *
 * @example
 * ```ts
 * const job = schedule(coord, 'nightly-report', '0 3 * * *', async ({ slot, signal }) => build(slot, signal), {
 *   timezone: 'Europe/Berlin', catchUpMs: 6 * 3600_000, overlap: 'skip', jitterMs: 30_000,
 * });
 * ```
 *
 * @throws InvalidArgumentError / TypeError for a bad name, expression, timezone or option (before any request)
 *
 * Failure modes: at start-up a host looks at the job's newest record; slots after it that are older than
 * `catchUpMs` (but never younger than `jitterMs` + 5 s) are recorded `skipped` ("missed", at most the newest
 * 100), the rest run once each, oldest first (at most the newest 10,000: a longer catch-up of a per-second
 * schedule leaves the older ones without a record). While it runs, a host never declares a slot missed from
 * its own clock: a clock that steps forward runs the slots it jumped over early, one after the other. Errors of a slot are `failed` events, never thrown: the
 * schedule goes on. etcd unreachable at a slot's time: the slot is retried by `once()` within its deadline,
 * else `failed` here and looked at again at each later wake-up: run once etcd answers while within the window,
 * recorded missed after. `overlap`
 * (`skip` | `wait` | `cancel-previous`) holds across hosts through the lock `cron/<job>`; every host must use
 * the same policy.
 */
export function schedule(
  ctx: CoordContext,
  name: string,
  expression: string,
  fn: (run: CronRun) => Promise<unknown>,
  opts: ScheduleOptions = {},
): CronJob {
  assertName(name, 'name');
  // The name is once()'s job: refused here as once() would refuse it, not at the first slot (b-cron F6).
  assertJob(name);
  if (typeof expression !== 'string' || expression.trim() === '')
    throw new TypeError('Expected `expression` to be a non-empty cron expression string');
  if (typeof fn !== 'function') throw new TypeError(`Expected \`fn\` to be a function, got ${typeof fn}`);
  assertOptions(opts, 'opts');
  assertOptionalSignal(opts.signal);
  assertOptionalDuration(opts.catchUpMs, 'catchUpMs');
  assertOptionalDuration(opts.jitterMs, 'jitterMs');
  assertOptionalDuration(opts.retainMs, 'retainMs');
  if (opts.ttlSeconds !== undefined) assertTtlSeconds(opts.ttlSeconds);
  if (opts.overlap !== undefined && !['skip', 'wait', 'cancel-previous'].includes(opts.overlap))
    throw new InvalidArgumentError(
      `Expected \`overlap\` to be skip, wait or cancel-previous, got "${String(opts.overlap)}"`,
    );
  if (opts.clock !== undefined && typeof opts.clock !== 'function')
    throw new TypeError('Expected `clock` to be a function returning ms since the epoch');
  if (opts.host !== undefined && (typeof opts.host !== 'string' || opts.host === ''))
    throw new TypeError('Expected `host` to be a non-empty string');
  const timezone = opts.timezone ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    throw new InvalidArgumentError(`Expected \`timezone\` to be an IANA timezone, got "${String(timezone)}"`);
  }
  const floor = (opts.catchUpMs ?? 0) + (opts.jitterMs ?? 0) + GRACE_MS + RETAIN_MARGIN_MS;
  if (opts.retainMs !== undefined && opts.retainMs <= floor)
    throw new InvalidArgumentError(
      `Expected \`retainMs\` to exceed catchUpMs + jitterMs + ${(GRACE_MS + RETAIN_MARGIN_MS) / 1000} s (${floor} ms): a slot whose record was deleted would run again`,
    );
  return new CronJob(ctx, name, expression, fn, { ...opts, host: opts.host ?? hostname() }).start();
}
