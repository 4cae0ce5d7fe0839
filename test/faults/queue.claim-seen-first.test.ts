/**
 * A claim txn whose answer is lost may have applied; the consumer gives the job back once its watch shows
 * that claim (recognised by its nonce). Found by the queue helper's review: when the watch shows the claim
 * *before* the txn's error comes back (the usual order when the reply, not the request, is lost), nothing
 * looked again until the next change of the queue. With no further change, the job stayed hidden under the
 * consumer's own live lease until that lease ended.
 *
 * The lost reply is injected on the client side at an exact point (the real txn applies, and its caller
 * is then told the deadline passed after the watch has delivered the claim): the fault proxy cannot order
 * a watch event before the reply it drops.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GRPCDeadlineExceededError } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

/** The first claim txn applies, then its caller hears "deadline exceeded" `delayMs` later. */
function loseFirstClaimReply(coord: Coordinator, delayMs: number): { readonly lost: boolean } {
  const state = { lost: false };
  const kv = coord.client.kv;
  const txn = kv.txn.bind(kv);
  kv.txn = (async (...args: Parameters<typeof txn>) => {
    const res = await txn(...args);
    const keys = (args[0].success ?? []).map((op) =>
      op.request_put?.key === undefined ? '' : Buffer.from(op.request_put.key as Uint8Array).toString(),
    );
    if (!state.lost && keys.some((k) => k.includes('/claims/'))) {
      state.lost = true;
      await sleep(delayMs);
      throw new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded (injected: reply lost)');
    }
    return res;
  }) as typeof kv.txn;
  return state;
}

describe('queue: a claim of unknown outcome that the watch showed first', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const coords: Coordinator[] = [];
  afterEach(async () => {
    await Promise.allSettled(coords.splice(0).map((c) => c.close()));
  });

  it('is given back at once, not when the lease ends: a pop gets the job', async () => {
    const namespace = uniquePrefix('queue-claim-first');
    // A lease far longer than the pop's deadline: only the give-back can free the job in time.
    const consumer = await connect({ endpoints: etcd.cluster.endpoints, namespace, ttlSeconds: 30 });
    const producer = await connect({ endpoints: etcd.cluster.endpoints, namespace });
    coords.push(consumer, producer);
    await producer.queue<string>('jobs').push('only');
    const injected = loseFirstClaimReply(consumer, 500);
    const job = await consumer.queue<string>('jobs').pop({ timeoutMs: 5000 });
    expect(injected.lost).toBe(true);
    expect(job.payload).toBe('only');
    await job.ack();
  }, 30_000);
});
