import type { IKeyValue } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { LockLostError, SessionExpiredError } from '../core/errors.js';
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

  /** Puts the own key if absent; if it exists (same session), proclaims `value` on it. Returns its create revision. */
  async put(
    key: Buffer,
    value: Buffer,
    session: Session,
    signal: AbortSignal,
    onCreated: (rev: bigint) => void,
  ): Promise<bigint> {
    const lease = session.leaseId.toString();
    const res = await this.#ctx.requester.run(
      `election "${this.#name}": campaign`,
      (o) =>
        this.#ctx.client.kv.txn(
          {
            compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
            success: [{ request_put: { key, value, lease } }],
            failure: [{ request_range: { key } }],
          },
          o,
        ),
      {
        signal,
        write: true,
        // A put that lands after we gave up is removed again.
        onLate: (late) => {
          const r = late as { succeeded: boolean; header: { revision: string } };
          if (r.succeeded)
            void this.withdraw(key, { createRevision: BigInt(r.header.revision) }, session)
              .run()
              .catch(() => undefined);
        },
      },
    );
    if (res.succeeded) {
      const rev = headerRevision(res.header);
      onCreated(rev);
      return rev;
    }
    const kv: IKeyValue | undefined = res.responses[0]?.response_range.kvs[0];
    if (!kv) throw new LockLostError(`election "${this.#name}": campaign: the candidate key vanished`);
    const rev = BigInt(kv.create_revision);
    if (BigInt(kv.lease) !== session.leaseId)
      throw new SessionExpiredError(`election "${this.#name}": the key is held under another lease`);
    if (!Buffer.from(kv.value).equals(value)) {
      const put = await this.#ctx.requester.run(
        `election "${this.#name}": campaign`,
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
   * put of unknown outcome, by the lease its name carries (such a key can only be ours).
   */
  withdraw(key: Buffer, guard: WithdrawGuard, session: Session): Release {
    return withdrawal(this.#ctx, this.#name, key, guard, session.signal);
  }
}
