import type { IKeyValue } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { GhostSweeper } from '../core/ghost-sweeper.js';
import { AbortedError, LockLostError, SessionExpiredError, UnavailableError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { headerRevision } from '../core/kv.js';
import type { Release } from '../core/release.js';
import type { Session } from '../core/session.js';
import { firstOwner, ownerRange } from './owner-scan.js';
import { withdrawal, type WithdrawGuard } from './withdraw.js';

/**
 * @internal The etcd requests of a campaign: the candidate key's put, the queue read, the withdrawals.
 * Every one is a single txn, so each answer describes one revision.
 */
export class CandidateKeys {
  readonly #ctx: CoordContext;
  readonly #name: string;
  readonly #prefix: string;

  constructor(ctx: CoordContext, name: string, prefix: string) {
    this.#ctx = ctx;
    this.#name = name;
    this.#prefix = prefix;
  }

  /**
   * Puts the own key if absent; if it exists (a repeat finding the first attempt's key, or a leftover of
   * this session), adopts it, proclaiming `value` on it. Returns its create revision.
   *
   * Repeated on `UNAVAILABLE` (safe: a first attempt that applied makes the repeat take the Else branch).
   * Every attempt of unknown outcome (no answer, or abandoned when `signal` aborted) may still be applied
   * later, after this campaign moved on, and re-create the key: it arms the core GhostSweeper, which
   * deletes such a ghost once no caller in this process holds the key (issue 15 f3). The caller holds it
   * (`GhostSweeper.hold`) from before this call until the key is released or known gone.
   */
  async put(key: Buffer, value: Buffer, session: Session, signal: AbortSignal): Promise<bigint> {
    const lease = session.leaseId.toString();
    const what = `election "${this.#name}": campaign`;
    const arm = () =>
      GhostSweeper.of(this.#ctx).arm(key, { leaseId: session.leaseId, alive: session.signal, what });
    const res = await withRetry(
      () =>
        this.#ctx.requester
          .run(
            what,
            (o) =>
              this.#ctx.client.kv.txn(
                {
                  compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
                  success: [{ request_put: { key, value, lease } }],
                  failure: [{ request_range: { key } }],
                },
                o,
              ),
            { signal, write: true },
          )
          .catch((err: unknown) => {
            if (err instanceof UnavailableError || err instanceof AbortedError) arm();
            throw err;
          }),
      { retries: 3, signal, what },
    );
    if (res.succeeded) return headerRevision(res.header);
    const kv: IKeyValue | undefined = res.responses[0]?.response_range.kvs[0];
    if (!kv) throw new LockLostError(`election "${this.#name}": campaign: the candidate key vanished`);
    const rev = BigInt(kv.create_revision);
    if (BigInt(kv.lease) !== session.leaseId)
      throw new SessionExpiredError(`election "${this.#name}": the key is held under another lease`);
    if (!Buffer.from(kv.value).equals(value)) {
      // Guarded by the create revision: repeating it is harmless.
      const put = await withRetry(
        () =>
          this.#ctx.requester.run(
            what,
            (o) =>
              this.#ctx.client.kv.txn(
                {
                  compare: [{ key, target: 'Create', result: 'Equal', create_revision: rev.toString() }],
                  success: [{ request_put: { key, value, lease } }],
                  failure: [],
                },
                o,
              ),
            { signal, write: true },
          ),
        { retries: 3, signal, what },
      );
      if (!put.succeeded)
        throw new LockLostError(`election "${this.#name}": campaign: the candidate key was deleted`);
    }
    return rev;
  }

  /**
   * One read, at one revision: the own key (must still be there with `myRev` and the session's lease,
   * etcd#19597) and the newest candidate created before it (Go: `WithMaxCreateRev(myRev-1)`, sorted by
   * create revision, descending, limit 1) — counting only keys that are exactly `<name>/<lease hex>`, so a
   * nested name's candidates (`<name>/db/…`) are never waited for (issue 16 f3).
   */
  async readQueue(
    key: Buffer,
    myRev: bigint,
    session: Session,
    signal: AbortSignal,
  ): Promise<{ revision: bigint; predecessor: Buffer | undefined }> {
    const what = `election "${this.#name}": read candidates`;
    const prefix = this.#ctx.keyspace.key(this.#prefix);
    const order = { order: 'Descend' as const, maxCreateRevision: myRev - 1n };
    const res = await this.#ctx.requester.run(
      what,
      (o) =>
        this.#ctx.client.kv.txn(
          {
            compare: [],
            success: [{ request_range: { key } }, { request_range: ownerRange(prefix, order, 1, true) }],
            failure: [],
          },
          o,
        ),
      { signal },
    );
    const own = res.responses[0]?.response_range.kvs[0];
    if (!own || BigInt(own.create_revision) !== myRev) {
      throw new LockLostError(
        `election "${this.#name}": campaign: the candidate key was deleted while waiting`,
      );
    }
    if (BigInt(own.lease) !== session.leaseId) {
      throw new SessionExpiredError(
        `election "${this.#name}": campaign: the candidate key is not under the session's lease`,
      );
    }
    session.throwIfDone();
    const revision = headerRevision(res.header);
    const first = res.responses[1]?.response_range ?? { kvs: [], more: false };
    const found = await firstOwner(this.#ctx, what, prefix, order, first, revision, signal);
    return { revision, predecessor: found?.kv.key };
  }

  /**
   * Starts withdrawing a key of ours (see {@link withdrawal}): guarded by its create revision, or, for a
   * put of unknown outcome, by the create revision read from the key if it carries the session's lease.
   */
  withdraw(key: Buffer, guard: WithdrawGuard, session: Session): Release {
    return withdrawal(this.#ctx, this.#name, key, guard, session.signal);
  }
}
