import type { CoordContext } from '../core/context.js';
import { ConflictError, LockLostError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { recordKey } from './once-keys.js';

/** One run (or attempted run) of a job for a slot. */
export interface OnceAttempt {
  /** The host that ran the attempt. */
  host: string;
  /** Its process id. */
  pid: number;
  /** ISO timestamps. */
  start: string;
  /** When it ended (ISO 8601); absent while it runs. */
  end?: string | undefined;
  /**
   * `crashed`: the holder's lease expired before it wrote an outcome. `interrupted`: its caller stopped it
   * (the `signal` given to once() aborted: a host shutting down) and the job then ended; the slot stays open.
   */
  outcome?: 'ok' | 'error' | 'crashed' | 'interrupted' | 'skipped' | undefined;
  /** The error message of an `error` outcome, or why a `skipped` one did not run the job. */
  error?: string | undefined;
  /** Create revision of the lock key the attempt held (its fencing token), as a decimal string. */
  fencingToken: string;
  /**
   * The runner's lease id (hex). While that lease lives the attempt is not crashed, even if its slot key
   * was deleted: the next holder waits for it (absent in records of older versions).
   */
  lease?: string | undefined;
}

/**
 * The completion record of a slot, stored as JSON at `once/<job>/<slot>/record`, the slot percent-encoded
 * for `%` and `/` (`once/j/x%2Fs/record` for slot `x/s`). `slot` here is the slot as given, not encoded.
 */
export interface OnceRecord {
  /** The job name given to `once()`. */
  job: string;
  /** The slot id (e.g. a date). */
  slot: string;
  /**
   * `running`: an attempt started and has not finished (or crashed); `done`: finished; `failed`: crashed
   * with `onCrash: 'fail'`; `interrupted`: the last attempt was stopped by its own host (shutdown), and the
   * next host runs the slot again, whatever `onCrash` says. `skipped`: the holder decided not to run the job
   * (it threw {@link SlotSkipped}: a cron slot missed outside its catch-up window, or overlapping a run still
   * going); nobody runs it.
   */
  state: 'running' | 'done' | 'failed' | 'interrupted' | 'skipped';
  /** The last attempt's host, pid, start, end and outcome, for a quick look. */
  host: string;
  /** Its process id. */
  pid: number;
  /** When it started (ISO 8601). */
  start: string;
  /** When it ended (ISO 8601); absent while it runs. */
  end?: string | undefined;
  /**
   * How it ended: `ok`, `error` (the job threw or exited non-zero), `crashed` (its lease expired) or
   * `interrupted` (stopped by its own host).
   */
  outcome?: 'ok' | 'error' | 'crashed' | 'interrupted' | 'skipped' | undefined;
  /** Every attempt at this slot, oldest first. */
  attempts: OnceAttempt[];
}

const STATES = new Set(['running', 'done', 'failed', 'interrupted', 'skipped']);
const OUTCOMES = new Set([undefined, 'ok', 'error', 'crashed', 'interrupted', 'skipped']);

/**
 * Thrown by a `once()` job to record the slot as `skipped` without running it (the holder decides, so the
 * decision is as exactly-once as a run): `once()` resolves `{ status: 'skipped' }` on every host.
 *
 * @example
 * ```ts
 * await once(coord, 'report', { slot }, async () => {
 *   if (tooLate) throw new SlotSkipped('missed: outside the catch-up window');
 *   return build();
 * });
 * ```
 *
 * Failure modes: none of its own; the `skipped` record is written like any outcome (guarded, retried while
 * the holder's lease lives).
 */
export class SlotSkipped extends Error {
  /** Always `SlotSkipped`. */
  override readonly name = 'SlotSkipped';
}

/** What is wrong with `value` as a once record, or `undefined` when it is one. */
function recordProblem(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (typeof r.job !== 'string' || typeof r.slot !== 'string') return 'no `job`/`slot` strings';
  if (typeof r.state !== 'string' || !STATES.has(r.state))
    return `unknown \`state\` ${JSON.stringify(r.state)}`;
  if (!OUTCOMES.has(r.outcome as string | undefined))
    return `unknown \`outcome\` ${JSON.stringify(r.outcome)}`;
  if (!Array.isArray(r.attempts)) return '`attempts` is not a list';
  for (const a of r.attempts as unknown[]) {
    if (a === null || typeof a !== 'object') return 'an attempt is not an object';
    const at = a as Record<string, unknown>;
    if (typeof at.fencingToken !== 'string' || !OUTCOMES.has(at.outcome as string | undefined))
      return 'an attempt without a `fencingToken` or with an unknown `outcome`';
    if (at.lease !== undefined && (typeof at.lease !== 'string' || !/^[0-9a-f]+$/.test(at.lease)))
      return 'an attempt with a `lease` that is not a hex lease id';
  }
  return undefined;
}

/** True while the slot may still be run: an attempt is running (or crashed), or the last one was interrupted. */
export function isOpen(record: OnceRecord): boolean {
  return record.state === 'running' || record.state === 'interrupted';
}

/**
 * @internal Reads and writes a slot's record. Every write is guarded by the slot key's create revision (only
 * the current holder writes) and puts a whole record, so repeating one after an unknown outcome is harmless.
 */
export class RecordStore {
  readonly #ctx: CoordContext;
  readonly #key: Buffer;
  readonly #what: string;
  readonly #job: string;
  readonly #slot: string;

  constructor(ctx: CoordContext, job: string, slot: string) {
    this.#ctx = ctx;
    this.#job = job;
    this.#slot = slot;
    this.#key = ctx.keyspace.key(recordKey(job, slot));
    this.#what = `once "${job}" slot "${slot}"`;
  }

  /** The record's full etcd key. */
  get key(): Buffer {
    return this.#key;
  }

  /**
   * The record, or `undefined` when there is none.
   *
   * @throws ConflictError naming the key when the value there is not a record of this job and slot
   *   (written by another tool, or truncated): once() never runs the job on a record it cannot read
   * @throws UnavailableError when etcd cannot be reached
   */
  async read(signal?: AbortSignal): Promise<{ record: OnceRecord; raw: Buffer } | undefined> {
    const res = await this.#ctx.requester.run(
      `${this.#what}: read record`,
      (o) => this.#ctx.client.kv.range({ key: this.#key }, o),
      { signal },
    );
    const kv = res.kvs[0];
    if (!kv) return undefined;
    const where = this.#ctx.keyspace.strip(this.#key).toString();
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString());
    } catch (err) {
      throw new ConflictError(
        `${this.#what}: the record at "${where}" is not JSON (written by another tool, or truncated); the job was not run`,
        { cause: err },
      );
    }
    const problem =
      recordProblem(value) ??
      ((value as OnceRecord).job !== this.#job || (value as OnceRecord).slot !== this.#slot
        ? 'it names another job or slot'
        : undefined);
    if (problem) {
      throw new ConflictError(
        `${this.#what}: the value at "${where}" is not a once record (${problem}); the job was not run`,
      );
    }
    return { record: value as OnceRecord, raw: Buffer.from(kv.value) };
  }

  /**
   * Writes `record` while the slot key (`guard`) is ours, retrying while `alive` (the runner's session, or
   * its term) lives: a record that is not written makes the slot look crashed to the next host.
   *
   * With `guard.after` (an outcome, breaker F4), the guard is instead "the record is still exactly what this
   * attempt wrote": the runner records its outcome while its attempt is the latest, even if an operator
   * deleted its slot key (the next holder waits for this attempt's lease). A retry that finds the record
   * already equal to `record` (an earlier attempt applied) succeeds. Returns the bytes written.
   *
   * @throws LockLostError when the slot key is no longer ours, or `alive` ended first: the record was not written
   */
  async write(
    record: OnceRecord,
    guard: { key: Buffer; rev: bigint; after?: Buffer | undefined },
    alive: AbortSignal,
  ): Promise<Buffer> {
    const what = `${this.#what}: write record (${record.state})`;
    const value = Buffer.from(JSON.stringify(record));
    const compare =
      guard.after === undefined
        ? {
            key: guard.key,
            target: 'Create' as const,
            result: 'Equal' as const,
            create_revision: guard.rev.toString(),
          }
        : { key: this.#key, target: 'Value' as const, result: 'Equal' as const, value: guard.after };
    let succeeded: boolean;
    try {
      succeeded = await withRetry(
        async () => {
          // The caller's own signal is not passed: a finished run's outcome is recorded even if it gave up.
          const res = await this.#ctx.requester.run(
            what,
            (o) =>
              this.#ctx.client.kv.txn(
                {
                  compare: [compare],
                  success: [{ request_put: { key: this.#key, value } }],
                  failure: [{ request_range: { key: this.#key } }],
                },
                o,
              ),
            { write: true, signal: alive },
          );
          if (res.succeeded) return true;
          // An earlier attempt of this very write applied (its answer lost): the record is ours already.
          const now = res.responses[0]?.response_range.kvs[0];
          return now !== undefined && Buffer.from(now.value).equals(value);
        },
        { signal: alive, retries: Number.MAX_SAFE_INTEGER, maxTimeoutMs: 1000, what },
      );
    } catch (err) {
      if (!alive.aborted) throw err;
      // The session ended with an attempt possibly applied (a process resumed after a pause past its TTL
      // sends the write, then its loss timer aborts the wait): look before saying "not written", or the
      // caller is told to expect a re-run that the record (ours, written) will never allow.
      const now = await this.read(AbortSignal.timeout(this.#ctx.requester.requestTimeoutMs)).catch(
        () => undefined,
      );
      if (now?.raw.equals(value)) return value;
      throw new LockLostError(`${what}: the slot's session ended before the record was written`, {
        cause: alive.reason as unknown,
      });
    }
    if (!succeeded) throw new LockLostError(`${what}: lost the slot before the record was written`);
    return value;
  }
}
