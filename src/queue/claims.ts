import type { ICompare, IRequestOp, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { headerRevision } from '../core/kv.js';
import { itemId } from './ids.js';
import { encodeItem, type ItemHeader } from './item.js';
import type { JobClaim } from './job.js';
import type { SettleKind, SettleOutcome } from './settle.js';

/** The key of one queue's prefix, relative to the namespace. */
export const queuePrefix = (name: string): string => `queue/${name}/`;

/** `Create(key) == rev`: "this exact key exists" (or, with 0, "the key is absent"). */
export const cmpCreate = (key: Buffer, rev: bigint): ICompare => ({
  key,
  target: 'Create',
  result: 'Equal',
  create_revision: rev.toString(),
});

/**
 * @internal The txns of one queue: its keys, and how a claimed job is settled. Every settle txn is guarded
 * by the claim (`Create(claim) == claimRevision`) and deletes the claim with it, so only the holder of a
 * live claim can ack, nack or release a job, and at most once (a late-applied old attempt fails its guard).
 */
export class QueueTxns {
  readonly #ctx: CoordContext;
  readonly #name: string;
  readonly #deadLetter: string;
  readonly #onWrite: (revision: bigint) => void;

  /** The coordinator's per-request deadline: what a settle without `timeoutMs` waits at most. */
  get requestTimeoutMs(): number {
    return this.#ctx.requester.requestTimeoutMs;
  }

  /** `onWrite` is told the revision of every settle txn that applied. */
  constructor(ctx: CoordContext, name: string, deadLetter: string, onWrite: (revision: bigint) => void) {
    this.#ctx = ctx;
    this.#name = name;
    this.#deadLetter = deadLetter;
    this.#onWrite = onWrite;
  }

  key(kind: 'items' | 'claims' | 'consumers', rel: string, queue = this.#name): Buffer {
    return this.#ctx.keyspace.key(`${queuePrefix(queue)}${kind}/${rel}`);
  }

  /** One txn with the request deadline; a write, so an unanswered one is `UnavailableError` with `mayHaveApplied`. */
  txn(
    what: string,
    compare: ICompare[],
    success: IRequestOp[],
    failure: IRequestOp[] = [],
  ): Promise<ITxnResponse> {
    return this.#ctx.requester.run(what, (o) => this.#ctx.client.kv.txn({ compare, success, failure }, o), {
      write: true,
    });
  }

  /** The put that files a job in the dead-letter queue, with where it came from. */
  deadLetterPut(rel: string, createRevision: bigint, attempts: number, payload: Buffer): IRequestOp {
    const header: ItemHeader = {
      a: 0,
      v: 0,
      d: { queue: this.#name, id: itemId(createRevision, rel), attempts },
    };
    return {
      request_put: { key: this.key('items', rel, this.#deadLetter), value: encodeItem(header, payload) },
    };
  }

  /**
   * What a settle txn writes besides deleting the claim. `ack`: delete the item. `nack`: put it back
   * (visible after `delayMs`, same key so same FIFO place), or file it as a dead letter when its deliveries
   * are used up. `release`: put it back at once *without* counting the delivery (it never reached a handler,
   * or a graceful shutdown cut its handler short).
   */
  settleOps(
    kind: SettleKind,
    claim: JobClaim,
    delayMs: number,
    maxAttempts: number,
  ): { ops: IRequestOp[]; outcome: SettleOutcome } {
    const itemKey = this.key('items', claim.rel);
    if (kind === 'ack') return { ops: [{ request_delete_range: { key: itemKey } }], outcome: 'acked' };
    if (kind === 'nack' && claim.header.a >= maxAttempts) {
      const ops = [
        { request_delete_range: { key: itemKey } },
        this.deadLetterPut(claim.rel, claim.createRevision, claim.header.a, claim.payload),
      ];
      return { ops, outcome: 'dead' };
    }
    const header: ItemHeader =
      kind === 'nack'
        ? { ...claim.header, v: delayMs > 0 ? Date.now() + delayMs : 0 }
        : { ...claim.header, a: Math.max(0, claim.header.a - 1) };
    const ops = [{ request_put: { key: itemKey, value: encodeItem(header, claim.payload) } }];
    return { ops, outcome: kind === 'nack' ? 'nacked' : 'released' };
  }

  /**
   * One settle attempt: `ops` plus the claim's delete, guarded by the claim (`Create(claim) ==
   * claimRevision`); when the guard fails, the item is read instead (keys only). Not retried here: a repeat
   * after an unanswered attempt is harmless (its guard fails), and {@link Settlement} decides what a failed
   * guard means.
   */
  async settleAttempt(what: string, claim: JobClaim, ops: IRequestOp[]): Promise<ITxnResponse> {
    const claimKey = this.key('claims', claim.rel);
    const res = await this.txn(
      what,
      [cmpCreate(claimKey, claim.claimRevision)],
      [...ops, { request_delete_range: { key: claimKey } }],
      [{ request_range: { key: this.key('items', claim.rel), keys_only: true } }],
    );
    this.#onWrite(headerRevision(res.header));
    return res;
  }

  /**
   * Whether the lease still exists on the server. A lease never comes back once revoked or expired, so a
   * live lease proves that every key attached to it was deleted by a request, not by its expiry.
   *
   * @throws UnavailableError when etcd does not answer
   */
  async leaseAlive(what: string, leaseId: bigint): Promise<boolean> {
    const res = await this.#ctx.requester.run(`${what}: check lease`, (o) =>
      this.#ctx.client.leaseClient.leaseTimeToLive({ ID: leaseId.toString() }, o),
    );
    // etcd answers TTL -1 and no granted TTL for a lease it does not know (revoked, or expired and
    // revoked); a lease past its expiry but not yet revoked still has its keys, so it counts as alive.
    return Number(res.grantedTTL) > 0 || Number(res.TTL) >= 0;
  }
}
