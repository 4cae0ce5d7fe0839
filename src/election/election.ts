import type { CoordContext } from '../core/context.js';
import { abortError, withDeadline, type WaitOptions } from '../core/deadline.js';
import { DeletionWatch } from '../core/deletion-watch.js';
import { LockLostError, LockTimeoutError, SessionExpiredError, UnavailableError } from '../core/errors.js';
import { leaseHex } from '../core/keys.js';
import { toKeyValue } from '../core/kv.js';
import type { Session } from '../core/session.js';
import { assertName, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import { encodeValue, toLeaderInfo, type CampaignValue, type LeaderInfo } from './leader.js';
import { LeaderObserver } from './observe.js';
import { Term } from './term.js';
import { CandidateKeys } from './candidate-keys.js';

/** Options of {@link Election}. */
export interface ElectionOptions {
  /** Campaign under this session's lease instead of the coordinator's default session. */
  session?: Session | undefined;
  /** A candidate that becomes first because the previous leader's lease expired or was revoked (not a resign) waits this long before it is elected. Default 0. */
  lockDelayMs?: number | undefined;
}

/**
 * Leader election on etcd, with the key layout of etcd's own recipe (`etcdctl elect`, Go's
 * `concurrency.Election`): each candidate puts `<name>/<leaseId hex>` under its session's lease; the key
 * with the smallest create revision is the leader, its value the leader's value. Candidates wait in
 * create-revision order, each watching only the deletion of the candidate just before it.
 *
 * @example
 * ```ts
 * const election = coord.election('svc/scheduler');
 * const term = await election.campaign('host-a', { signal });
 * try { await runScheduler(term.signal); } finally { await term.resign(); }
 * ```
 *
 * Failure modes: a candidate whose lease is revoked or whose key is deleted while it waits is never told
 * it won (the own key is re-read after the last wait, etcd#19597): `campaign()` rejects with
 * `SessionExpiredError` / `LockLostError`. A leader that loses contact with etcd learns it (term.signal)
 * before its lease can expire on the server.
 */
export class Election {
  readonly name: string;
  readonly #ctx: CoordContext;
  readonly #session: Session | undefined;
  readonly #prefix: string;
  readonly #keys: CandidateKeys;

  /** @throws InvalidArgumentError / TypeError for an empty name or one with a NUL byte, before any request */
  constructor(ctx: CoordContext, name: string, opts: ElectionOptions = {}) {
    assertName(name, 'name');
    this.#ctx = ctx;
    this.name = name;
    this.#session = opts.session;
    this.#prefix = `${name}/`;
    this.#keys = new CandidateKeys(ctx, name, this.#prefix);
  }

  /**
   * Becomes a candidate with `value` and resolves once elected. The watch on the election's prefix is live
   * before the queue is read, so a resignation is seen within one watch notification.
   *
   * A second `campaign()` under the same session and name shares the key (as Go's recipe does): it
   * proclaims the new value and waits for the same turn.
   *
   * @example
   * ```ts
   * const term = await election.campaign('10.0.0.7:8080', { timeoutMs: 30_000 });
   * ```
   *
   * @throws TypeError / InvalidArgumentError for a bad value or option, before any request
   * @throws LockTimeoutError after `timeoutMs`; AbortedError when `signal` aborts (the key is removed)
   * @throws SessionExpiredError / LockLostError when the lease or the key was lost while waiting
   * @throws UnavailableError when etcd cannot be reached
   */
  async campaign(value: CampaignValue, opts: WaitOptions = {}): Promise<Term> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    // A lease id is at most 16 hex digits: the value is checked against the longest possible key.
    const buf = encodeValue(value, 'value', this.#ctx.keyspace.key(this.#prefix).length + 16);
    const what = `election "${this.name}": campaign`;
    const onTimeout = (ms: number) => new LockTimeoutError(`${what}: not elected within ${ms} ms`);
    const deadline = withDeadline(opts.signal, opts.timeoutMs, this.#ctx.closedSignal);
    const signal = deadline.signal;
    let watch: DeletionWatch | undefined;
    let created: { key: Buffer; rev: bigint } | undefined;
    let unsure: { key: Buffer; leaseId: bigint } | undefined;
    try {
      const session = this.#session ?? (await this.#ctx.currentSession({ signal }));
      const key = this.#ctx.keyspace.key(`${this.#prefix}${leaseHex(session.leaseId)}`);
      const waitSignal = withDeadline(signal, undefined, session.signal);
      try {
        const range = this.#ctx.keyspace.prefixRange(this.#prefix);
        watch = await DeletionWatch.open(this.#ctx, range.key, range.end, waitSignal.signal);
        unsure = { key, leaseId: session.leaseId };
        const myRev = await this.#keys.put(
          key,
          buf,
          session,
          waitSignal.signal,
          (rev) => (created = { key, rev }),
        );
        unsure = undefined;
        for (;;) {
          const { revision, predecessor } = await this.#keys.readQueue(
            key,
            myRev,
            session,
            waitSignal.signal,
          );
          if (!predecessor) {
            const term = new Term({
              ctx: this.#ctx,
              name: this.name,
              fullKey: key,
              fencingToken: myRev,
              session,
              value: buf,
              watch,
              readRevision: revision,
            });
            watch = undefined;
            created = undefined;
            return term;
          }
          // Wait for the predecessor to go, or for the own key to go (revoked lease, `etcdctl del`).
          const both = new AbortController();
          const stop = withDeadline(waitSignal.signal, undefined, both.signal);
          try {
            const mine = watch.waitForDelete(key, revision, stop.signal).then(() => {
              throw new LockLostError(`${what}: the candidate key was deleted while waiting`);
            });
            mine.catch(() => undefined);
            await Promise.race([watch.waitForDelete(predecessor, revision, stop.signal), mine]);
          } catch (err) {
            if (waitSignal.signal.aborted || err instanceof LockLostError) throw err;
            // The watch broke (history compacted while disconnected): watch again, then re-read the queue.
            watch.close();
            watch = undefined;
            watch = await DeletionWatch.open(this.#ctx, range.key, range.end, waitSignal.signal);
          } finally {
            both.abort();
            stop.dispose();
          }
        }
      } finally {
        waitSignal.dispose();
      }
    } catch (err) {
      const fail =
        signal.aborted && !(err instanceof SessionExpiredError) ? abortError(signal, what, onTimeout) : err;
      if (created) await this.#keys.remove(created.key, created.rev);
      // The put got no answer: it may have created the key, which would otherwise queue (or lead) for as
      // long as the session lives. The key name carries our lease id, so it can only be ours.
      else if (unsure && err instanceof UnavailableError && err.mayHaveApplied)
        await this.#keys.removeUnsure(unsure.key, unsure.leaseId);
      throw fail;
    } finally {
      watch?.close();
      deadline.dispose();
    }
  }

  /**
   * The current leader, or `null` when nobody campaigns.
   *
   * @example
   * ```ts
   * const leader = await election.leader();
   * console.log(leader ? leader.value.toString() : 'no leader');
   * ```
   *
   * @throws UnavailableError when etcd cannot be reached
   */
  async leader(opts: { signal?: AbortSignal | undefined } = {}): Promise<LeaderInfo | null> {
    assertOptionalSignal(opts.signal);
    const range = this.#ctx.keyspace.prefixRange(this.#prefix);
    const res = await this.#ctx.requester.run(
      `election "${this.name}": leader`,
      (o) =>
        this.#ctx.client.kv.range(
          { key: range.key, range_end: range.end, sort_target: 'Create', sort_order: 'Ascend', limit: 1 },
          o,
        ),
      { signal: opts.signal },
    );
    const kv = res.kvs[0];
    return kv ? toLeaderInfo(toKeyValue(kv, this.#ctx.keyspace.prefix.length)) : null;
  }

  /**
   * The leader now, then every change of leader or of its value, `null` while there is none. Never an
   * older leader after a newer one. The buffer holds one value: a consumer that falls behind gets the
   * latest. `return()` (a `break` out of `for await`) or `signal` ends it and cancels the watch.
   *
   * @example
   * ```ts
   * for await (const leader of election.observe({ signal })) console.log(leader?.value.toString() ?? '(none)');
   * ```
   *
   * Failure modes: a broken watch resumes without loss; history compacted meanwhile → the election is
   * re-read and only a change is reported.
   */
  observe(
    opts: { signal?: AbortSignal | undefined } = {},
  ): AsyncIterableIterator<LeaderInfo | null> & { return(): Promise<IteratorResult<LeaderInfo | null>> } {
    assertOptionalSignal(opts.signal);
    return new LeaderObserver(this.#ctx, this.#prefix, opts.signal);
  }
}
