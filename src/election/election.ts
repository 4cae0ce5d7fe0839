import { heldMarkerKey } from '../core/held-marker.js';
import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import { CompactedError, LockLostError } from '../core/errors.js';
import { isOwnerKey } from '../core/keys.js';
import { headerRevision, toKeyValue } from '../core/kv.js';
import { releaseMarkerKey } from '../core/lock-delay.js';
import type { Session } from '../core/session.js';
import { assertName, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import { encodeValue, toLeaderInfo, type CampaignValue, type LeaderInfo } from './leader.js';
import { LeaderObserver } from './observe.js';
import type { Term } from './term.js';
import { CandidateKeys } from './candidate-keys.js';
import { runCampaign, type CampaignSpec } from './campaign.js';
import { firstOwner, ownerRange, ownerScan } from './owner-scan.js';

/** Candidates per page of {@link Election.candidates}. */
const CANDIDATES_PAGE = 64;

/** Options of {@link Election}. */
export interface ElectionOptions {
  /** Campaign under this session's lease instead of the coordinator's default session. */
  session?: Session | undefined;
  /**
   * Lock-delay (Consul's session lock-delay): a candidate that becomes first because the previous leader's
   * lease expired or was revoked, or its key was deleted by someone else, waits this long before it is
   * elected, so whatever the old leader was still doing has time to stop. A clean `resign()` hands over at
   * once — if the resigning candidate set `lockDelayMs` too (only then does its resign write the marker),
   * so every candidate of a name that wants lock-delay sets it. Default 0 (the resign txn is unchanged,
   * and nothing is read at a handover).
   */
  lockDelayMs?: number | undefined;
}

/** @internal Options only the recipes built on an election use. */
export interface InternalElectionOptions {
  /** Terms keep the in-process turn after a loss until closed (runAsLeader, once: the body is still running). */
  turnUntilClose?: boolean | undefined;
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
 * How a waiter tells a clean resign from a lost leader: with `lockDelayMs` set, the resign's txn also puts
 * the marker `<name>\0released` naming the deleted key (core/lock-delay.ts); a deletion without it (a
 * candidate without `lockDelayMs`, `etcdctl elect`, an expiry) counts as a loss.
 * A newcomer that finds nobody in line is elected at once (there is no record of an earlier expiry).
 *
 * Failure modes: a candidate whose lease is revoked or whose key is deleted while it waits is never told
 * it won (the own key is re-read after the last wait, etcd#19597): `campaign()` rejects with
 * `SessionExpiredError` / `LockLostError`. A leader that loses contact with etcd learns it (term.signal)
 * before its lease can expire on the server.
 */
export class Election {
  /** The election prefix, relative to the namespace. */
  readonly name: string;
  readonly #ctx: CoordContext;
  readonly #prefix: string;
  readonly #spec: CampaignSpec;

  /** @throws InvalidArgumentError / TypeError for an empty name or one with a NUL byte, before any request */
  constructor(ctx: CoordContext, name: string, opts: ElectionOptions & InternalElectionOptions = {}) {
    assertName(name, 'name');
    assertOptionalDuration(opts.lockDelayMs, 'lockDelayMs');
    this.#ctx = ctx;
    this.name = name;
    this.#prefix = `${name}/`;
    this.#spec = {
      ctx,
      name,
      prefix: this.#prefix,
      session: opts.session,
      keys: new CandidateKeys(ctx, name, this.#prefix),
      lockDelayMs: opts.lockDelayMs ?? 0,
      marker: releaseMarkerKey(ctx.keyspace.key(name)),
      heldMarker: heldMarkerKey(ctx.keyspace.key(name)),
      turnUntilClose: opts.turnUntilClose,
    };
  }

  /**
   * Becomes a candidate with `value` and resolves once elected. The watch on the election's prefix is live
   * before the queue is read, so a resignation is seen within one watch notification.
   *
   * Calls on one session and name queue in process, as `Mutex.lock()` calls do: their etcd key would be
   * the same `<name>/<lease hex>`, so a second call waits until the first caller's term has ended (after a
   * `resign()`, once its delete is confirmed) or its campaign failed, and only then stands in etcd. Two
   * callers are never both told they lead. `timeoutMs` and `signal` cover that wait too. (Go's recipe
   * instead shares the key between such calls.)
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
    const term = await runCampaign(this.#spec, this.#encode(value, opts), opts, true);
    // Only `tryCampaign` gives up; a waiting campaign returns a term or throws.
    if (!term) throw new LockLostError(`election "${this.name}": campaign ended without a term`);
    return term;
  }

  /**
   * Campaigns only if elected at once: resolves with the term, or with `null` (and no candidate key left
   * behind) when another candidate leads or stands first in line, or another caller in this process holds
   * or waits for this election on the same session. Never waits in line, and settles within `timeoutMs`
   * (default: the coordinator's `requestTimeoutMs`) even when etcd does not answer.
   *
   * @example
   * ```ts
   * const term = await election.tryCampaign('host-a');
   * if (!term) return; // somebody else leads
   * ```
   *
   * @throws TypeError / InvalidArgumentError for a bad value or option, before any request
   * @throws SessionExpiredError / LockLostError when the lease or the key was lost meanwhile
   * @throws UnavailableError when etcd did not answer in time, or the withdrawal of the key could not be
   *   confirmed (it goes on in the background while the session lives)
   */
  async tryCampaign(value: CampaignValue, opts: WaitOptions = {}): Promise<Term | null> {
    return runCampaign(this.#spec, this.#encode(value, opts), opts, false);
  }

  #encode(value: CampaignValue, opts: WaitOptions): Buffer {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    // A lease id is at most 16 hex digits: the value is checked against the longest possible key.
    return encodeValue(value, 'value', this.#ctx.keyspace.key(this.#prefix).length + 16);
  }

  /**
   * The current leader, or `null` when nobody campaigns. Only keys that are exactly `<name>/<lease hex>`
   * count: a nested name's candidates (`<name>/db/<lease hex>`) and other keys under the prefix do not.
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
    const what = `election "${this.name}": leader`;
    const prefix = this.#ctx.keyspace.key(this.#prefix);
    const order = { order: 'Ascend' as const };
    // Compaction between the pages of one scan is the only reason to read again; it cannot repeat for ever
    // in practice, but a bound keeps the call bounded.
    for (let attempt = 1; ; attempt++) {
      try {
        const first = await this.#ctx.requester.run(
          what,
          (o) => this.#ctx.client.kv.range(ownerRange(prefix, order, 1, false), o),
          { signal: opts.signal },
        );
        const revision = headerRevision(first.header);
        const found = await firstOwner(this.#ctx, what, prefix, order, first, revision, opts.signal);
        if (!found) return null;
        let kv = found.kv;
        if (!found.onFirstPage) {
          // Later pages were keys only: read the leader's value at the same revision.
          const res = await this.#ctx.requester.run(
            what,
            (o) => this.#ctx.client.kv.range({ key: kv.key, revision: revision.toString() }, o),
            { signal: opts.signal },
          );
          const full = res.kvs[0];
          if (!full) return null;
          kv = full;
        }
        return toLeaderInfo(toKeyValue(kv, this.#ctx.keyspace.prefix.length));
      } catch (err) {
        if (!(err instanceof CompactedError) || attempt >= 3) throw err;
      }
    }
  }

  /**
   * Every candidate, in line order (the first is the leader), read at one revision: only keys that are
   * exactly `<name>/<lease hex>` (an `etcdctl elect` candidate is one), not a nested name's.
   *
   * @example
   * ```ts
   * for (const c of await election.candidates()) console.log(c.key, c.value.toString());
   * ```
   *
   * @throws UnavailableError when etcd cannot be reached
   *
   * Failure modes: history compacted between the pages of a long list → read again (up to 3 times).
   */
  async candidates(opts: { signal?: AbortSignal | undefined } = {}): Promise<LeaderInfo[]> {
    assertOptionalSignal(opts.signal);
    const what = `election "${this.name}": candidates`;
    const prefix = this.#ctx.keyspace.key(this.#prefix);
    const order = { order: 'Ascend' as const };
    for (let attempt = 1; ; attempt++) {
      try {
        const first = await this.#ctx.requester.run(
          what,
          (o) => this.#ctx.client.kv.range(ownerRange(prefix, order, CANDIDATES_PAGE, false), o),
          { signal: opts.signal },
        );
        const revision = headerRevision(first.header);
        const out: LeaderInfo[] = [];
        const scan = ownerScan(this.#ctx, what, prefix, order, first, revision, false, opts.signal);
        for await (const { kv } of scan) {
          if (isOwnerKey(kv.key, prefix))
            out.push(toLeaderInfo(toKeyValue(kv, this.#ctx.keyspace.prefix.length)));
        }
        return out;
      } catch (err) {
        if (!(err instanceof CompactedError) || attempt >= 3) throw err;
      }
    }
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
  observe(opts: { signal?: AbortSignal | undefined } = {}): AsyncIterableIterator<LeaderInfo | null> & {
    /** Ends the observation and cancels its watch (what a `break` in `for await` calls). */
    return(): Promise<IteratorResult<LeaderInfo | null>>;
  } {
    assertOptionalSignal(opts.signal);
    return new LeaderObserver(this.#ctx, this.#prefix, opts.signal);
  }
}
