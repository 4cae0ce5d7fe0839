import type { IKeyValue } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { deleteGuarded } from '../core/guarded-delete.js';
import { ConflictError, UnavailableError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';

/**
 * The guarded writes on one instance key (`services/<service>/<id>`, full key). Every write compares the
 * key's lease, and the delete its create revision, so a registration never overwrites or deletes another
 * live instance's key, nor (late) its own re-created one.
 */
export class InstanceKey {
  readonly #ctx: CoordContext;
  readonly #key: Buffer;
  readonly #name: string;

  constructor(ctx: CoordContext, fullKey: Buffer, name: string) {
    this.#ctx = ctx;
    this.#key = fullKey;
    this.#name = name;
  }

  /**
   * Puts `value` under `leaseId`: creates the key if absent; replaces it only if it is attached to one of
   * `ownLeases` (this registration's current or earlier leases). Safe to repeat. `timeoutMs` bounds every
   * request of this call together; `onUncertain` is told of every write that got no answer (it may apply
   * later: the caller arms the ghost sweeper).
   *
   * @returns the key's create revision, the guard of its later delete (see {@link InstanceKey.delete})
   *
   * @throws ConflictError when the key is attached to another lease (another live instance with this id)
   * @throws UnavailableError when etcd does not answer (the write may have been applied: repeat it)
   */
  async register(
    value: () => Buffer,
    leaseId: bigint,
    ownLeases: ReadonlySet<bigint>,
    timeoutMs?: number,
    onUncertain?: () => void,
  ): Promise<bigint> {
    const { client, requester } = this.#ctx;
    const lease = leaseId.toString();
    const what = `registry: register "${this.#name}"`;
    const expiresAt = timeoutMs === undefined ? undefined : performance.now() + timeoutMs;
    const remaining = () =>
      expiresAt === undefined ? undefined : Math.max(1, expiresAt - performance.now());
    const noteUncertain = (err: unknown): never => {
      if (err instanceof UnavailableError && err.mayHaveApplied) onUncertain?.();
      throw err;
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const created = await requester
        .run(
          what,
          (o) =>
            client
              .if(this.#key, 'Create', '==', 0)
              .then(client.put(this.#key).value(value()).lease(lease))
              .else(client.get(this.#key))
              .options(o)
              .commit(),
          { write: true, timeoutMs: remaining() },
        )
        .catch(noteUncertain);
      // Created by this txn: its revision is the key's create revision.
      if (created.succeeded) return BigInt(created.header.revision);
      const kv: IKeyValue | undefined = created.responses[0]?.response_range?.kvs[0];
      if (!kv) continue; // deleted in between: try to create it again
      const holder = BigInt(kv.lease || 0);
      if (!ownLeases.has(holder)) {
        throw new ConflictError(
          `${what}: the id is already registered by another live instance (lease ${holder.toString(16)})`,
        );
      }
      const replaced = await requester
        .run(
          what,
          (o) =>
            client
              .if(this.#key, 'Lease', '==', kv.lease)
              .and(this.#key, 'Mod', '==', kv.mod_revision)
              .then(client.put(this.#key).value(value()).lease(lease))
              .options(o)
              .commit(),
          { write: true, timeoutMs: remaining() },
        )
        .catch(noteUncertain);
      // A put on an existing key keeps its create revision.
      if (replaced.succeeded) return BigInt(kv.create_revision);
    }
    throw new UnavailableError(`${what}: the key kept changing under us`);
  }

  /** Puts `value` if the key is still attached to `leaseId`; false if it is gone or another lease's. */
  async update(value: Buffer, leaseId: bigint, signal: AbortSignal): Promise<boolean> {
    const { client, requester } = this.#ctx;
    const lease = leaseId.toString();
    const res = await requester.run(
      `registry: update "${this.#name}"`,
      (o) =>
        client
          .if(this.#key, 'Lease', '==', lease)
          .then(client.put(this.#key).value(value).lease(lease))
          .options(o)
          .commit(),
      { signal, write: true },
    );
    return res.succeeded;
  }

  /**
   * Deletes the key if it still has `createRevision` (from {@link InstanceKey.register}): never only by its
   * lease, since registrations of one TTL share one pooled lease, so the same id registered again after a
   * confirmed deregister has the same name and lease, and an earlier delete attempt landing late would
   * remove it. `retries`: attempts after the first (a repeated guarded delete is harmless; 0 inside a
   * `Release`, which retries by itself).
   */
  async delete(createRevision: bigint, retries = 3): Promise<void> {
    const what = `registry: deregister "${this.#name}"`;
    await withRetry(() => deleteGuarded(this.#ctx, what, this.#key, { createRevision }), { retries });
  }
}
