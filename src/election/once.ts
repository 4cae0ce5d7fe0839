import type { ICompare } from 'etcd3';
import { hostname } from 'node:os';
import type { CoordContext } from '../core/context.js';
import { sleep, withDeadline, type WaitOptions } from '../core/deadline.js';
import {
  InvalidArgumentError,
  LockLostError,
  LockTimeoutError,
  SessionExpiredError,
} from '../core/errors.js';
import type { Session } from '../core/session.js';
import { isOpen, RecordStore, SlotSkipped, type OnceAttempt, type OnceRecord } from './once-record.js';
import { waitForRunner } from './once-runner-wait.js';
import { assertJob, lockName } from './once-keys.js';
import { sweepRecords } from './once-admin.js';
import {
  assertName,
  assertOptionalDuration,
  assertOptionalSignal,
  assertTtlSeconds,
} from '../core/validate.js';
import { Election } from './election.js';
import type { Term } from './term.js';

export type { OnceAttempt, OnceRecord } from './once-record.js';
export { SlotSkipped } from './once-record.js';

/** What {@link once} did on this host. */
export type OnceResult<T> =
  | {
      /** This call ran the job. */
      status: 'ran';
      /** What the job returned. */
      value: T;
      /** The slot's record after the run. */
      record: OnceRecord;
    }
  | {
      /** The slot was already done (here or on another host): the job did not run. */
      status: 'skipped';
      /** The slot's record. */
      record: OnceRecord;
    }
  | {
      /** The slot's run failed (the job threw, or crashed with `onCrash: 'fail'`), here or elsewhere. */
      status: 'failed';
      /** The slot's record. */
      record: OnceRecord;
    };

/** What the job is told about the slot it holds. */
export interface OnceSlot {
  /** The lock key held for this run, app-relative (`once/<job>/<slot>/lock/<leaseId hex>`, the slot encoded as in the record key). */
  key: string;
  /** Create revision of the lock key: pass it with writes to shared state. */
  fencingToken: bigint;
  /** 1 for the first attempt, 2 when re-running after a crashed attempt, … */
  attempt: number;
  /** "I still hold the slot" as a raw etcd `Compare`, for guarded txns. */
  guard: ICompare;
}

/** Options of {@link once}. */
export interface OnceOptions extends WaitOptions {
  /**
   * The slot: one execution per (job, slot), e.g. `'2026-11-21'` for a daily job. Any non-empty string: in
   * keys it is one segment, with `%` and `/` percent-encoded (`'x/s'` → `once/<job>/x%2Fs/record`), so two
   * distinct (job, slot) pairs never share a record even though the job name may nest.
   */
  slot: string;
  /** A holder crashed mid-run (no outcome, lease expired): `'rerun'` (default) lets the next host run it; `'fail'` marks the slot failed. */
  onCrash?: 'rerun' | 'fail' | undefined;
  /** Recorded as the attempt's host. Default `os.hostname()`. */
  host?: string | undefined;
  /** Hold the slot under a separate lease with this TTL (how soon a crashed run is noticed). Default: the coordinator's session. */
  ttlSeconds?: number | undefined;
  /**
   * Lock-delay: a host that gets the slot because the previous holder's lease expired or was revoked
   * waits this long before it looks at the record and (re-)runs the job, so a crashed or cut-off holder's
   * job has time to stop. A holder that finished (or skipped) hands over at once. Default 0.
   */
  lockDelayMs?: number | undefined;
  /**
   * Retention: after running the job, the host that ran it deletes this job's records finished more than
   * `retainMs` ago (never one that may still run; see `sweepRecords`). A host asking for a slot whose
   * record is gone runs it again, so keep records longer than any host can be late. Default: kept for ever.
   */
  retainMs?: number | undefined;
}

/**
 * Runs `fn` at most once per `(job, slot)` across every host that calls it: the cron-job guard (the same
 * crontab on N hosts, one run). Hosts queue on an election under `once/<job>/<slot>/lock/`; the one that
 * holds it writes the record `once/<job>/<slot>/record` in txns guarded by its lock key's create
 * revision (so only the current holder can write it), runs `fn`, and records the outcome. A host that
 * arrives after the run sees the record and skips.
 *
 * Keys: the job is kept raw (it may nest, `reports/daily`, like a lock name); the slot is percent-encoded
 * for `%` and `/` only (`%` → `%25`, `/` → `%2F`), so it is always the last segment before `/lock` or
 * `/record` and `('j', { slot: 'x/s' })` (`once/j/x%2Fs/`) never meets `('j/x', { slot: 's' })`
 * (`once/j/x/s/`). A slot without `%` or `/` has its raw key, as before the encoding existed.
 *
 * @example
 * ```ts
 * const r = await once(coord, 'nightly-report', { slot: '2026-11-21' }, async (signal) => buildReport({ signal }));
 * if (r.status === 'skipped') console.log(`already done by ${r.record.host}`);
 * ```
 *
 * @throws what `fn` threw (after recording `outcome: 'error'`; other hosts then get `failed`), or, when
 *   `opts.signal` had aborted (the caller stopping it: a shutdown), after recording `interrupted`: the next
 *   host runs the slot again, whatever `onCrash` says
 * @throws TypeError naming `job` when `job` is empty or ends with `/` (before any request)
 * @throws InvalidArgumentError when `job` or `slot` holds a NUL byte, or `slot` is empty (before any request)
 * @throws LockLostError when the slot was lost mid-run and the outcome could not be recorded
 * @throws ConflictError when the record key holds something that is not a once record of this job and slot
 * @throws LockTimeoutError / AbortedError while waiting for another host's run
 *
 * Callers in one process (same coordinator or session) queue in process, like every campaign on one
 * session and name: the second one sees the first's record and skips. Per `(job, slot)` the job runs at
 * most once across every caller of every process, except in the at-least-once window below.
 *
 * Failure modes: a holder killed mid-run leaves a `running` record; once its lease expires the next host
 * either runs the job again (`onCrash: 'rerun'`, the record lists both attempts) or marks the slot
 * `failed`. A holder cut off from etcd sees `signal` abort before its lease can expire: `fn` must stop.
 * When `fn` returns, the `done` record is written (guarded by "the record is still this attempt's
 * `running` record", retried for as long as the holder's lease lives) before the slot is released, so a
 * blip then changes nothing. The slot key deleted under a live session (`etcdctl del`) ends the term
 * (`signal` aborts) but is not a crash: each attempt records its runner's lease, and a host that then
 * takes the slot and finds a `running` attempt whose lease still lives waits (a watch on the record and
 * one timer at that lease's TTL) until the record says done (it skips) or the lease is gone (crashed).
 * A process resumed after SIGSTOP past its TTL may run one more timer step of `fn` before `signal`
 * aborts (timer order after SIGCONT is not ours to choose): guard shared writes with `slot.guard` or the
 * fencing token, never with a flag. The one at-least-once
 * window: the holder's lease is lost after `fn` returned and before the record was written — `once()` then
 * rejects with `LockLostError` and the next host runs the job again. A record that is not one (written by
 * another tool, or truncated) is a `ConflictError` naming its key; the job is not run.
 */
export async function once<T>(
  ctx: CoordContext,
  job: string,
  opts: OnceOptions,
  fn: (signal: AbortSignal, slot: OnceSlot) => Promise<T>,
): Promise<OnceResult<T>> {
  assertJob(job);
  if (opts === null || typeof opts !== 'object')
    throw new TypeError('Expected `opts` to be an object with a `slot`');
  assertName(opts.slot, 'slot');
  if (typeof fn !== 'function') throw new TypeError(`Expected \`fn\` to be a function, got ${typeof fn}`);
  const onCrash = opts.onCrash ?? 'rerun';
  if (onCrash !== 'rerun' && onCrash !== 'fail') {
    throw new InvalidArgumentError(`Expected \`onCrash\` to be 'rerun' or 'fail', got ${String(onCrash)}`);
  }
  const host = opts.host ?? hostname();
  assertName(host, 'host');
  if (opts.ttlSeconds !== undefined) assertTtlSeconds(opts.ttlSeconds);
  assertOptionalSignal(opts.signal);
  assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
  assertOptionalDuration(opts.lockDelayMs, 'lockDelayMs');
  assertOptionalDuration(opts.retainMs, 'retainMs');

  const store = new RecordStore(ctx, job, opts.slot);
  // `timeoutMs` bounds everything before the job starts: the first record read, the sessions, the wait in
  // line (issue F3: a read before the deadline existed waited a whole request timeout on its own).
  const deadline = withDeadline(opts.signal, opts.timeoutMs);
  const wait = deadline.signal;
  const timedOut = (err: unknown): never => {
    if (deadline.timedOut && !(err instanceof LockTimeoutError))
      throw new LockTimeoutError(
        `once "${job}" slot "${opts.slot}": slot not taken within ${String(opts.timeoutMs)} ms`,
        {
          cause: err,
        },
      );
    throw err;
  };
  let own: Session | undefined;
  let runner: Session | undefined;
  let term: Term | undefined;
  let ranHere = false;
  try {
    const early = await store.read(wait).catch(timedOut);
    if (early && !isOpen(early.record)) return finished(early.record);
    // Stand in line for the slot. Losing the lease while queued (a long wait, a pause, a slow host) is
    // not the end: look at the record again, and if the slot is still open, stand again.
    for (;;) {
      if (opts.ttlSeconds !== undefined && (!own || own.done)) {
        await own?.close();
        own = await ctx.newSession({ ttlSeconds: opts.ttlSeconds, signal: wait }).catch(timedOut);
      }
      // The session is named here, not left to the election, so the record writes can last exactly as
      // long as the lease the slot key is attached to.
      runner =
        own ?? (await ctx.currentSession({ signal: wait, timeoutMs: deadline.remaining() }).catch(timedOut));
      const election = new Election(ctx, lockName(job, opts.slot), {
        session: runner,
        lockDelayMs: opts.lockDelayMs,
        // A lost slot keeps the in-process turn until the job has returned (term.close() in the finally).
        turnUntilClose: true,
      });
      try {
        term = await election.campaign(`${host}:${process.pid}`, { signal: wait });
        break;
      } catch (err) {
        if (!(err instanceof SessionExpiredError || err instanceof LockLostError) || wait.aborted)
          return timedOut(err);
        const again = await store.read(wait).catch(timedOut);
        if (again && !isOpen(again.record)) return finished(again.record);
      }
    }
    const alive = runner.signal;
    const guard = { key: ctx.keyspace.key(term.key), rev: term.fencingToken };
    let current = await store.read(term.signal);
    // A `running` attempt whose runner's lease lives is not crashed (its slot key was deleted under it):
    // wait for its outcome or for its lease to go (breaker F4).
    if (current) current = await waitForRunner(ctx, store, store.key, current, term.signal);
    if (current?.record.state === 'running' && (opts.lockDelayMs ?? 0) > 0 && !term.lockDelayed) {
      // A crashed attempt (its runner's lease expired or was revoked) may still be running on its host,
      // whose supervisor stops it by the time the lease could expire. A host that arrived after the slot
      // key was already gone had no predecessor for the election's lock-delay to see (the torture
      // campaign's cli-overlap finding, once): give the attempt lockDelayMs here, then look again.
      await sleep(opts.lockDelayMs ?? 0, term.signal, `once "${job}" slot "${opts.slot}": lock-delay`);
      current = await store.read(term.signal);
      if (current) current = await waitForRunner(ctx, store, store.key, current, term.signal);
    }
    const previous = current?.record;
    if (previous && !isOpen(previous)) return finished(previous);

    const attempts = (previous?.attempts ?? []).map((a) =>
      a.outcome === undefined ? { ...a, outcome: 'crashed' as const } : a,
    );
    const now = new Date().toISOString();
    const mine: OnceAttempt = {
      host,
      pid: process.pid,
      start: now,
      fencingToken: term.fencingToken.toString(),
      lease: runner.leaseId.toString(16),
    };
    // An interrupted attempt did not crash: its host stopped it (shutdown). It is run again, not failed.
    if (previous?.state === 'running' && onCrash === 'fail') {
      const failed: OnceRecord = { ...previous, state: 'failed', outcome: 'crashed', attempts };
      await store.write(failed, guard, alive);
      return { status: 'failed', record: failed };
    }
    attempts.push(mine);
    const running: OnceRecord = {
      job,
      slot: opts.slot,
      state: 'running',
      host,
      pid: process.pid,
      start: now,
      attempts,
    };
    // Before the job starts: give up as soon as the term is over (nothing has run yet).
    const written = await store.write(running, guard, term.signal);
    // The outcome is written while this attempt is the record's latest, not only while the slot key is
    // ours: a slot key deleted under a live session does not make the run count as crashed (breaker F4).
    const outcomeGuard = { ...guard, after: written };

    // A pause between the write and here (SIGSTOP, a blocked loop) resumes with the reply in hand and the
    // loss timer not yet run: ask the lease's own deadline before the job starts, not the flag.
    runner.throwIfDone();
    if (term.signal.aborted) throw term.signal.reason as Error;
    const scope = withDeadline(opts.signal, undefined, term.signal);
    ranHere = true;
    let value: T;
    try {
      value = await fn(scope.signal, {
        key: term.key,
        fencingToken: term.fencingToken,
        attempt: attempts.length,
        guard: term.guardCompare(),
      });
    } catch (err) {
      if (err instanceof SlotSkipped) {
        // The holder decided not to run it: recorded like an outcome, so every host skips the slot.
        const skipped = finish(running, 'skipped', err);
        await store.write(skipped, outcomeGuard, alive);
        return { status: 'skipped', record: skipped };
      }
      // The job's own error is what the caller needs; if the outcome cannot be recorded (slot lost), the
      // record stays `running` and the slot is treated as crashed by the next host. A job that ended after
      // its caller's signal aborted (the host shutting down) was interrupted, not failed: the slot stays
      // open for another host. The slot lost first (term.signal alone) is not an interruption.
      const outcome = opts.signal?.aborted === true && !term.signal.aborted ? 'interrupted' : 'error';
      await store.write(finish(running, outcome, err), outcomeGuard, alive).catch(() => undefined);
      throw err;
    } finally {
      scope.dispose();
    }
    // The outcome is recorded before the slot is released, retrying while the lease lives (issue 14 f3):
    // only a lease lost first lets another host run the job again.
    const done = finish(running, 'ok');
    await store.write(done, outcomeGuard, alive);
    return { status: 'ran', value, record: done };
  } finally {
    deadline.dispose();
    // An unconfirmed release does not change what happened to the job (the record says it), and it goes on
    // in the background while the session lives, so it does not fail the call.
    await term?.close().catch(() => undefined);
    await own?.close();
    // After the slot is released (others need not wait for it); a failed sweep is retried by the next run.
    if (ranHere && opts.retainMs !== undefined)
      await sweepRecords(ctx, job, opts.retainMs).catch(() => undefined);
  }
}

function finished<T>(record: OnceRecord): OnceResult<T> {
  return (record.state === 'done' && record.outcome === 'ok') || record.state === 'skipped'
    ? { status: 'skipped', record }
    : { status: 'failed', record };
}

function finish(
  record: OnceRecord,
  outcome: 'ok' | 'error' | 'interrupted' | 'skipped',
  err?: unknown,
): OnceRecord {
  const end = new Date().toISOString();
  const attempts = record.attempts.slice();
  const last = attempts.pop();
  if (last) {
    attempts.push({
      ...last,
      end,
      outcome,
      ...(err === undefined ? {} : { error: err instanceof Error ? err.message : String(err) }),
    });
  }
  const state = outcome === 'interrupted' || outcome === 'skipped' ? outcome : 'done';
  return { ...record, state, end, outcome, attempts };
}
