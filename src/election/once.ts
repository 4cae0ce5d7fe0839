import type { ICompare } from 'etcd3';
import { hostname } from 'node:os';
import type { CoordContext } from '../core/context.js';
import { withDeadline, type WaitOptions } from '../core/deadline.js';
import { InvalidArgumentError, LockLostError, SessionExpiredError } from '../core/errors.js';
import type { Session } from '../core/session.js';
import {
  assertName,
  assertOptionalDuration,
  assertOptionalSignal,
  assertTtlSeconds,
} from '../core/validate.js';
import { Election } from './election.js';
import type { Term } from './term.js';

/** One run (or attempted run) of a job for a slot. */
export interface OnceAttempt {
  host: string;
  pid: number;
  /** ISO timestamps. */
  start: string;
  end?: string | undefined;
  /** `crashed`: the holder's lease expired before it wrote an outcome. */
  outcome?: 'ok' | 'error' | 'crashed' | undefined;
  error?: string | undefined;
  /** Create revision of the lock key the attempt held (its fencing token), as a decimal string. */
  fencingToken: string;
}

/** The completion record of a slot, stored as JSON at `once/<job>/<slot>/record`. */
export interface OnceRecord {
  job: string;
  slot: string;
  /** `running`: an attempt started and has not finished (or crashed); `done`: finished; `failed`: crashed with `onCrash: 'fail'`. */
  state: 'running' | 'done' | 'failed';
  /** The last attempt's host, pid, start, end and outcome, for a quick look. */
  host: string;
  pid: number;
  start: string;
  end?: string | undefined;
  outcome?: 'ok' | 'error' | 'crashed' | undefined;
  attempts: OnceAttempt[];
}

/** What {@link once} did on this host. */
export type OnceResult<T> =
  | { status: 'ran'; value: T; record: OnceRecord }
  | { status: 'skipped'; record: OnceRecord }
  | { status: 'failed'; record: OnceRecord };

/** What the job is told about the slot it holds. */
export interface OnceSlot {
  /** The lock key held for this run, app-relative (`once/<job>/<slot>/lock/<leaseId hex>`). */
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
  /** The slot: one execution per (job, slot), e.g. `'2026-11-21'` for a daily job. */
  slot: string;
  /** A holder crashed mid-run (no outcome, lease expired): `'rerun'` (default) lets the next host run it; `'fail'` marks the slot failed. */
  onCrash?: 'rerun' | 'fail' | undefined;
  /** Recorded as the attempt's host. Default `os.hostname()`. */
  host?: string | undefined;
  /** Hold the slot under a separate lease with this TTL (how soon a crashed run is noticed). Default: the coordinator's session. */
  ttlSeconds?: number | undefined;
  /** Lock-delay of the slot's election (see `ElectionOptions.lockDelayMs`): after a crashed run, the next host waits this long. Default 0. */
  lockDelayMs?: number | undefined;
}

/**
 * Runs `fn` at most once per `(job, slot)` across every host that calls it: the cron-job guard (the same
 * crontab on N hosts, one run). Hosts queue on an election under `once/<job>/<slot>/lock/`; the one that
 * holds it writes the record `once/<job>/<slot>/record` in txns guarded by its lock key's create
 * revision (so only the current holder can write it), runs `fn`, and records the outcome. A host that
 * arrives after the run sees the record and skips.
 *
 * @example
 * ```ts
 * const r = await once(coord, 'nightly-report', { slot: '2026-11-21' }, async (signal) => buildReport({ signal }));
 * if (r.status === 'skipped') console.log(`already done by ${r.record.host}`);
 * ```
 *
 * @throws what `fn` threw (after recording `outcome: 'error'`; other hosts then get `failed`)
 * @throws LockLostError when the slot was lost mid-run and the outcome could not be recorded
 * @throws LockTimeoutError / AbortedError while waiting for another host's run
 *
 * Failure modes: a holder killed mid-run leaves a `running` record; once its lease expires the next host
 * either runs the job again (`onCrash: 'rerun'`, the record lists both attempts) or marks the slot
 * `failed`. A holder cut off from etcd sees `signal` abort before its lease can expire: `fn` must stop.
 */
export async function once<T>(
  ctx: CoordContext,
  job: string,
  opts: OnceOptions,
  fn: (signal: AbortSignal, slot: OnceSlot) => Promise<T>,
): Promise<OnceResult<T>> {
  assertName(job, 'job');
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

  const base = `once/${job}/${opts.slot}/`;
  const recordKey = ctx.keyspace.key(`${base}record`);
  const store = new RecordStore(ctx, recordKey, `once "${job}" slot "${opts.slot}"`);
  const early = await store.read(opts.signal);
  if (early && early.record.state !== 'running') return finished(early.record);

  let session: Session | undefined;
  let term: Term | undefined;
  const deadline = withDeadline(undefined, opts.timeoutMs);
  try {
    // Stand in line for the slot. Losing the lease while queued (a long wait, a pause, a slow host) is
    // not the end: look at the record again, and if the slot is still open, stand again.
    for (;;) {
      if (opts.ttlSeconds !== undefined && (!session || session.done)) {
        await session?.close();
        session = await ctx.newSession({ ttlSeconds: opts.ttlSeconds, signal: opts.signal });
      }
      const election = new Election(ctx, `${base}lock`, session ? { session } : {});
      try {
        term = await election.campaign(`${host}:${process.pid}`, {
          signal: opts.signal,
          timeoutMs: deadline.remaining(),
        });
        break;
      } catch (err) {
        if (!(err instanceof SessionExpiredError || err instanceof LockLostError) || opts.signal?.aborted)
          throw err;
        const again = await store.read(opts.signal);
        if (again && again.record.state !== 'running') return finished(again.record);
      }
    }
    const guard = { key: ctx.keyspace.key(term.key), rev: term.fencingToken };
    const current = await store.read(term.signal);
    const previous = current?.record;
    if (previous && previous.state !== 'running') return finished(previous);

    const attempts = (previous?.attempts ?? []).map((a) =>
      a.outcome === undefined ? { ...a, outcome: 'crashed' as const } : a,
    );
    const now = new Date().toISOString();
    const mine: OnceAttempt = {
      host,
      pid: process.pid,
      start: now,
      fencingToken: term.fencingToken.toString(),
    };
    if (previous && onCrash === 'fail') {
      const failed: OnceRecord = { ...previous, state: 'failed', outcome: 'crashed', attempts };
      await store.write(failed, guard);
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
    await store.write(running, guard);

    const scope = withDeadline(opts.signal, undefined, term.signal);
    let value: T;
    try {
      value = await fn(scope.signal, {
        key: term.key,
        fencingToken: term.fencingToken,
        attempt: attempts.length,
        guard: term.guardCompare(),
      });
    } catch (err) {
      // The job's own error is what the caller needs; if the outcome cannot be recorded (slot lost), the
      // record stays `running` and the slot is treated as crashed by the next host.
      await store.write(finish(running, 'error', err), guard).catch(() => undefined);
      throw err;
    } finally {
      scope.dispose();
    }
    const done = finish(running, 'ok');
    await store.write(done, guard);
    return { status: 'ran', value, record: done };
  } finally {
    deadline.dispose();
    await term?.close();
    await session?.close();
  }
}

function finished<T>(record: OnceRecord): OnceResult<T> {
  return record.state === 'done' && record.outcome === 'ok'
    ? { status: 'skipped', record }
    : { status: 'failed', record };
}

function finish(record: OnceRecord, outcome: 'ok' | 'error', err?: unknown): OnceRecord {
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
  return { ...record, state: 'done', end, outcome, attempts };
}

/** Reads and writes the slot's record; every write is guarded by the lock key's create revision. */
class RecordStore {
  constructor(
    private readonly ctx: CoordContext,
    private readonly key: Buffer,
    private readonly what: string,
  ) {}

  async read(signal?: AbortSignal): Promise<{ record: OnceRecord } | undefined> {
    const res = await this.ctx.requester.run(
      `${this.what}: read record`,
      (o) => this.ctx.client.kv.range({ key: this.key }, o),
      { signal },
    );
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return { record: JSON.parse(kv.value.toString()) as OnceRecord };
  }

  /** @throws LockLostError when the lock key is no longer ours: the record was not written */
  async write(record: OnceRecord, guard: { key: Buffer; rev: bigint }): Promise<void> {
    // No signal: a finished run's outcome must be recorded even if the caller gave up meanwhile.
    const res = await this.ctx.requester.run(
      `${this.what}: write record`,
      (o) =>
        this.ctx.client.kv.txn(
          {
            compare: [
              { key: guard.key, target: 'Create', result: 'Equal', create_revision: guard.rev.toString() },
            ],
            success: [{ request_put: { key: this.key, value: Buffer.from(JSON.stringify(record)) } }],
            failure: [],
          },
          o,
        ),
      { write: true },
    );
    if (!res.succeeded)
      throw new LockLostError(`${this.what}: lost the slot before the record (${record.state}) was written`);
  }
}
