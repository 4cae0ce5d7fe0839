/**
 * pushMany when etcd's answer is lost: the first attempt applies but its reply is dropped by a proxy, the
 * batch is consumed and acked by another client meanwhile (so its job keys are gone again), and then the
 * answers come back. Guarantee (brief issue 25 / DESIGN "Unknown outcome"): the retried pushMany resolves
 * with the ids of the batch that applied, and every job is delivered exactly once — the retry does not
 * enqueue the batch again although every job key is absent by then.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('queue pushMany with a lost reply', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const opened: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const c of opened.splice(0).reverse()) await c.close();
  });

  async function clients(): Promise<{ proxy: FaultProxy; producer: Coordinator; consumer: Coordinator }> {
    const prefix = uniquePrefix('qmany-lost');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    opened.push(proxy);
    // A TTL well above the outage: the producer's session (and the batch marker under it) survives it.
    const producer = await connect({
      endpoints: [proxy.endpoint],
      namespace: prefix,
      ttlSeconds: 10,
      requestTimeoutMs: 700,
    });
    opened.push(producer);
    const consumer = await connect({ endpoints: etcd.cluster.endpoints, namespace: prefix, ttlSeconds: 2 });
    opened.push(consumer);
    return { proxy, producer, consumer };
  }

  it('a retried pushMany whose first attempt applied (and was consumed meanwhile) yields each job once', async () => {
    const { proxy, producer, consumer } = await clients();
    const out = producer.queue<{ n: number }>('jobs');
    const inbox = consumer.queue<{ n: number }>('jobs');
    await out.size(); // the producer's channel is up before replies are dropped
    const seen: { id: string; n: number }[] = [];
    const stop = new AbortController();
    const consuming = inbox.process(
      (job) => {
        seen.push({ id: job.id, n: job.payload.n });
      },
      { signal: stop.signal },
    );

    proxy.dropReplies();
    const pushing = out.pushMany(
      [0, 1, 2, 3, 4].map((n) => ({ n })),
      { timeoutMs: 20_000 },
    );
    // The first attempt reached etcd: the consumer gets and acks the whole batch while the producer
    // still has no answer.
    await waitFor(() => seen.length === 5, { timeoutMs: 10_000, message: 'the batch consumed' });
    await waitFor(async () => (await inbox.size()) === 0, { message: 'the batch acked' });
    proxy.pass();
    const ids = await pushing;
    console.log('pushMany resolved with', ids.join(','));

    // Long enough for a duplicate batch to be delivered, had the retry enqueued one.
    await sleep(1500);
    stop.abort();
    await consuming;
    expect(seen.map((s) => s.n)).toEqual([0, 1, 2, 3, 4]);
    expect(seen.map((s) => s.id)).toEqual(ids);
    expect(await out.size()).toBe(0);
  });

  it('a pushMany whose every reply was lost rejects UNAVAILABLE with mayHaveApplied, and its batch is there once', async () => {
    const { proxy, producer, consumer } = await clients();
    const out = producer.queue<number>('jobs');
    await out.size();
    proxy.dropReplies();
    const err = await out.pushMany([7, 8, 9], { timeoutMs: 2000 }).catch((e: unknown) => e);
    proxy.pass();
    expect(err).toMatchObject({ code: 'UNAVAILABLE', mayHaveApplied: true });
    const inbox = consumer.queue<number>('jobs');
    expect(await inbox.size()).toBe(3);
    const got: number[] = [];
    for (let i = 0; i < 3; i++) {
      const job = await inbox.pop({ timeoutMs: 5000 });
      got.push(job.payload);
      await job.ack();
    }
    expect(got).toEqual([7, 8, 9]);
  });
  it('on a bounded queue, a push and a pushMany whose replies were lost are retried into their own writes, not counted twice (a retry that missed its own write would wait for room forever)', async () => {
    const { proxy, producer, consumer } = await clients();
    const out = producer.queue<string>('bounded', { maxSize: 3 });
    await out.size();
    // The size reads are answered; from the first txn on, etcd's replies are dropped (the txns apply).
    const kv = (producer.client as unknown as { kv: Record<string, (...a: unknown[]) => unknown> }).kv;
    const txn = kv['txn']!.bind(kv);
    kv['txn'] = (...a: unknown[]) => {
      proxy.dropReplies();
      return txn(...a);
    };
    const one = out.push('one', { timeoutMs: 20_000 });
    const many = out.pushMany(['m0', 'm1'], { timeoutMs: 20_000 });
    const inbox = consumer.queue<string>('bounded');
    await waitFor(async () => (await inbox.size()) > 0, { message: 'a write applied' });
    await sleep(1500);
    kv['txn'] = txn;
    proxy.pass();
    const [id, ids] = await Promise.all([one, many]);
    expect(await inbox.size()).toBe(3);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = await inbox.pop({ timeoutMs: 5000 });
      got.push(`${job.payload}@${job.id}`);
      await job.ack();
    }
    expect(got.sort()).toEqual([`m0@${ids[0]}`, `m1@${ids[1]}`, `one@${id}`].sort());
  });
});
