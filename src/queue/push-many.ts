import type { IRequestOp } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { InvalidArgumentError, SessionExpiredError, UnavailableError } from '../core/errors.js';
import { MAX_REQUEST_BYTES } from '../core/validate.js';
import { hasClassName } from '../core/refused.js';
import type { Session } from '../core/session.js';
import type { Room } from './bounded.js';
import { queuePrefix } from './claims.js';
import { batchItemId, batchToken } from './ids.js';
import { newToken } from './item.js';
import { runPushTxn } from './push-txn.js';

/**
 * The most jobs one `pushMany()` takes: etcd applies at most 128 operations per txn (`--max-txn-ops`,
 * default 128), and the batch's marker key is one of them.
 */
export const MAX_PUSH_MANY = 127;

/** What is left of a request for the jobs themselves (headers, compares, the marker). */
const BATCH_OVERHEAD_BYTES = 8192;

/** @internal One `pushMany()` call, its payloads already encoded as item values. */
export interface BatchSpec {
  queue: string;
  values: Buffer[];
  bucket: string;
  room: Room | undefined;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
}

/** @internal Throws before any request when the batch cannot be one etcd request. */
export function assertBatchSize(values: Buffer[], keyBytes: number): void {
  const total = values.reduce((sum, v) => sum + v.length + keyBytes, 0);
  const limit = MAX_REQUEST_BYTES - BATCH_OVERHEAD_BYTES;
  if (total > limit) {
    throw new InvalidArgumentError(
      `Expected \`items\` to be at most ${limit} bytes together (one txn, etcd's 1.5 MiB request limit), got ${total} bytes`,
    );
  }
}

/**
 * @internal Enqueues a batch in ONE txn: every job or none. The jobs share the txn's revision; their keys
 * end with their index, so they are served in array order, and their ids are `<revision>.<index>`.
 *
 * A retry must not enqueue the batch twice, even when an earlier attempt applied and its jobs were all
 * consumed since (their keys gone, so a per-key guard would pass again). So the txn also creates a
 * *batch marker* `queue/<name>/batches/<token>` under the session lease, and every attempt is guarded by
 * its absence: a retry (or a late-applied stale attempt) finds it and does nothing. An attempt whose lease
 * is gone cannot apply at all (etcd refuses a put under an unknown lease), so the guard holds for as long
 * as any attempt can apply. After a clean first attempt the marker is deleted at once (nothing else can
 * apply); after an unanswered one it stays until the session ends.
 */
export async function pushBatch(
  ctx: CoordContext,
  spec: BatchSpec,
): Promise<{ ids: string[]; applied: boolean; revision: bigint }> {
  const n = spec.values.length;
  const what = `queue "${spec.queue}": pushMany (${n} job${n === 1 ? '' : 's'})`;
  const base = newToken();
  const marker = ctx.keyspace.key(`${queuePrefix(spec.queue)}batches/${base}`);
  const puts: IRequestOp[] = spec.values.map((value, i) => ({
    request_put: {
      key: ctx.keyspace.key(`${queuePrefix(spec.queue)}items/${spec.bucket}/${batchToken(base, i)}`),
      value,
    },
  }));
  // The marker guards retries only while its lease lives: once an attempt went unanswered under one
  // lease, an attempt under another could enqueue the batch a second time.
  let session: Session | undefined;
  let lease: bigint | undefined;
  let ambiguousLease: bigint | undefined;
  let leaseChanged: UnavailableError | undefined;
  const res = await runPushTxn(ctx, {
    what,
    guardKey: marker,
    ops: async (signal) => {
      session = await ctx.currentSession({ signal });
      if (ambiguousLease !== undefined && session.leaseId !== ambiguousLease) {
        leaseChanged = new UnavailableError(
          `${what}: an earlier attempt got no answer and its session lease ended since: the batch may have been enqueued (its marker went with the lease), so it is not sent again`,
          { mayHaveApplied: true },
        );
        throw leaseChanged;
      }
      lease = session.leaseId;
      return [...puts, { request_put: { key: marker, value: Buffer.alloc(0), lease: lease.toString() } }];
    },
    room: spec.room,
    signal: spec.signal,
    timeoutMs: spec.timeoutMs,
    onAmbiguous: () => (ambiguousLease ??= lease),
    shouldRetry: (err, uncertain) => {
      if (err === leaseChanged) return false;
      // etcd refused the marker's lease ("lease not found"): nothing applied; the next attempt takes the
      // coordinator's new session, unless an earlier one may have applied under the old lease.
      if (err instanceof SessionExpiredError && hasClassName(err.cause, 'EtcdLeaseInvalidError')) {
        if (uncertain) return false;
        session?.noteLeaseGone();
        return true;
      }
      return undefined;
    },
  });
  if (res.applied && !res.uncertain) {
    // Only this attempt was ever sent, and it applied: no other can, so the marker has done its job.
    void ctx.requester
      .run(`${what}: delete the batch marker`, (o) => ctx.client.kv.deleteRange({ key: marker }, o), {
        write: true,
      })
      .catch(() => undefined); // left behind, it goes with the session lease
  }
  const revision = res.found ? BigInt(res.found.create_revision) : res.revision;
  return {
    ids: spec.values.map((_, i) => batchItemId(revision, i)),
    applied: res.applied,
    revision: res.revision,
  };
}
