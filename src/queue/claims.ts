import type { ICompare, IRequestOp, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { LockLostError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import { encodeItem, type ItemHeader } from './item.js';
import type { JobClaim } from './job.js';

/** The key of one queue's prefix, relative to the namespace. */
export const queuePrefix = (name: string): string => `queue/${name}/`;

/** Retries of a guarded txn that got no answer (a repeat of an applied one fails its guard harmlessly). */
const SETTLE_RETRIES = 6;

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
 * live claim can ack, nack or release a job, and at most once.
 */
export class QueueTxns {
  readonly #ctx: CoordContext;
  readonly #name: string;
  readonly #deadLetter: string;
  readonly #onWrite: (revision: bigint) => void;

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
      d: { queue: this.#name, id: createRevision.toString(), attempts },
    };
    return {
      request_put: { key: this.key('items', rel, this.#deadLetter), value: encodeItem(header, payload) },
    };
  }

  /**
   * Deletes item and claim.
   *
   * @throws LockLostError when the claim is gone and the item is still there (it will be redelivered)
   */
  async ack(claim: JobClaim): Promise<void> {
    const res = await this.#guarded(`queue "${this.#name}": ack`, claim, [
      { request_delete_range: { key: this.key('items', claim.rel) } },
    ]);
    // Guard failed but the item is gone: an earlier unanswered attempt applied (or another consumer
    // finished it): either way the job is done.
    if (!res.succeeded && (res.responses[0]?.response_range.kvs.length ?? 0) > 0) {
      throw new LockLostError(
        `queue "${this.#name}": the claim on job at ${claim.rel} was lost (session expired?); it will be redelivered`,
      );
    }
  }

  /**
   * Gives the job back (visible after `delayMs`, same key so same FIFO place), or files it as a dead letter
   * when its deliveries are used up. A claim already gone makes it a no-op: the job is redelivered anyway.
   */
  async nack(claim: JobClaim, delayMs: number, maxAttempts: number): Promise<'nacked' | 'dead' | 'gone'> {
    const what = `queue "${this.#name}": nack`;
    if (claim.header.a >= maxAttempts) {
      const res = await this.#guarded(what, claim, [
        { request_delete_range: { key: this.key('items', claim.rel) } },
        this.deadLetterPut(claim.rel, claim.createRevision, claim.header.a, claim.payload),
      ]);
      return res.succeeded ? 'dead' : 'gone';
    }
    const header: ItemHeader = { ...claim.header, v: delayMs > 0 ? Date.now() + delayMs : 0 };
    const res = await this.#guarded(what, claim, [
      { request_put: { key: this.key('items', claim.rel), value: encodeItem(header, claim.payload) } },
    ]);
    return res.succeeded ? 'nacked' : 'gone';
  }

  /** Gives the job back at once *without* counting the delivery (it never reached a handler). */
  async release(claim: JobClaim): Promise<void> {
    const header: ItemHeader = { ...claim.header, a: Math.max(0, claim.header.a - 1) };
    await this.#guarded(`queue "${this.#name}": release`, claim, [
      { request_put: { key: this.key('items', claim.rel), value: encodeItem(header, claim.payload) } },
    ]);
  }

  /** A txn guarded by the claim that also deletes it, retried while etcd does not answer. */
  async #guarded(what: string, claim: JobClaim, success: IRequestOp[]): Promise<ITxnResponse> {
    const claimKey = this.key('claims', claim.rel);
    const itemKey = this.key('items', claim.rel);
    const res = await withRetry(
      () =>
        this.txn(
          what,
          [cmpCreate(claimKey, claim.claimRevision)],
          [...success, { request_delete_range: { key: claimKey } }],
          [{ request_range: { key: itemKey, keys_only: true } }],
        ),
      { retries: SETTLE_RETRIES, what },
    );
    if (res.succeeded) this.#onWrite(headerRevision(res.header));
    return res;
  }
}
