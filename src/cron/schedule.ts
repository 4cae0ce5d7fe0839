import { EventEmitter } from 'eventemitter3';
import { Cron } from 'croner';
import { hostname } from 'node:os';
import type { CoordContext } from '../core/context.js';
import { sleep } from '../core/deadline.js';
import { InvalidArgumentError } from '../core/errors.js';
import {
  assertName,
  assertOptionalDuration,
  assertOptionalSignal,
  assertOptions,
  assertTtlSeconds,
} from '../core/validate.js';
import { once } from '../election/once.js';
import type { OnceRecord } from '../election/once-record.js';
import { SlotSkipped } from '../election/once-record.js';
import { cronHistory, newestSlotTime, type CronHistoryEntry } from './history.js';
import { OVERLAP_TOLERANCE_MS, withOverlapPolicy, type OverlapPolicy } from './overlap.js';
import { planSlots } from './plan.js';
import { slotId } from './slot-id.js';

/** A slot older than `jitterMs` + this is never declared missed at start-up (another host may be starting it). */
const GRACE_MS = 5_000;
/** Missed slots recorded at most (the newest), after a long outage. */
const MAX_MISSED = 100;
/** Due slots run at most per wake-up (the newest), so a per-second schedule with a long catch-up window is bounded. */
const MAX_DUE = 1_000;

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
   * Delete this job's records finished more than `retainMs` ago. Must exceed `catchUpMs + jitterMs` + 5 s:
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
  /** Slots of a catch-up in progress, oldest first. */
  readonly #backlog: { at: number; missed: boolean }[] = [];
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
    const catchUpMs = this.#opts.catchUpMs ?? 0;
    const jitterMs = this.#opts.jitterMs ?? 0;
    const window = this.#window;
    // Where to start: after the newest recorded slot, so an outage's slots are caught up (within the window)
    // or recorded missed (older); a job with no record has nothing to catch up.
    let after: number | undefined;
    while (after === undefined) {
      try {
        const newest = await newestSlotTime(this.#ctx, this.name, stop);
        // A new job (no record yet) starts with its next slot: there was no outage to catch up on.
        after = newest === undefined ? this.#clock() : Math.min(newest, this.#clock() - window);
      } catch {
        // etcd unreachable at start-up: try again (the first slot's once() would fail the same way).
        await sleep(1_000, stop, 'cron').catch(() => undefined);
        if (stop.aborted) return;
      }
    }
    while (!stop.aborted) {
      const now = this.#clock();
      const plan = planSlots(this.#runsBetween, {
        now,
        after,
        catchUpMs,
        jitterMs,
        graceMs: GRACE_MS,
        maxMissed: MAX_MISSED,
      });
      after = Math.max(after, now);
      if (plan.missed.length + plan.due.length > 0) this.#launch(plan.missed, plan.due.slice(-MAX_DUE));
      const next = this.#cron.nextRun(new Date(after));
      if (!next) return;
      const delay = next.getTime() - this.#clock() + Math.random() * jitterMs;
      await sleep(Math.max(0, delay), stop, 'cron').catch(() => undefined);
    }
  }

  /**
   * Handles missed then due slots. A catch-up (several slots, or missed ones) is drained one slot after the
   * other, oldest first, and slots that come due meanwhile join its queue, so nothing newer overtakes it. A
   * single live slot runs beside whatever is running (the overlap policy decides what that means).
   */
  #launch(missed: number[], due: number[]): void {
    const items = [
      ...missed.map((at) => ({ at, missed: true })),
      ...due.map((at) => ({ at, missed: false })),
    ];
    if (!this.#draining && items.length === 1 && !items[0]!.missed) {
      this.#track(this.#slot(items[0]!.at, false));
      return;
    }
    this.#backlog.push(...items);
    if (this.#draining) return;
    this.#draining = true;
    this.#track(
      (async () => {
        try {
          for (let item = this.#backlog.shift(); item; item = this.#backlog.shift()) {
            if (this.#stop.signal.aborted) break;
            // A slot that waited in the backlog past the catch-up window (runs longer than the interval) is
            // missed, not run: the backlog cannot grow for ever.
            await this.#slot(item.at, item.missed || this.#clock() - item.at > this.#window);
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

  async #slot(at: number, missed: boolean): Promise<void> {
    const slot = slotId(new Date(at), this.timezone);
    // A slot handled late (caught up after an outage, or behind another host's catch-up) waits its turn:
    // skipping or cancelling it for a neighbour's run would lose slots the catch-up exists to run.
    const late = this.#clock() - at > OVERLAP_TOLERANCE_MS;
    const policy = late ? 'wait' : (this.#opts.overlap ?? 'skip');
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
      if (!this.#stop.signal.aborted) this.emit('failed', { slot, error });
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
 * 100), the rest run once each, oldest first. Errors of a slot are `failed` events, never thrown: the
 * schedule goes on. etcd unreachable at a slot's time: the slot is retried by `once()` within its deadline,
 * else `failed` here and run by a host that can reach etcd, or caught up later within `catchUpMs`. `overlap`
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
  const floor = (opts.catchUpMs ?? 0) + (opts.jitterMs ?? 0) + GRACE_MS;
  if (opts.retainMs !== undefined && opts.retainMs <= floor)
    throw new InvalidArgumentError(
      `Expected \`retainMs\` to exceed catchUpMs + jitterMs + ${GRACE_MS} ms (${floor}): a slot whose record was deleted would run again`,
    );
  return new CronJob(ctx, name, expression, fn, { ...opts, host: opts.host ?? hostname() }).start();
}
