/**
 * Settling a job when the claim may be gone (issue 14 f6, issue 15 f1): an ack or nack resolves only when
 * *this* claim was live and the txn applied; a lost claim rejects `LockLostError` saying whether the job
 * was completed elsewhere or is still queued; an ack whose reply was lost is retried and recognised as
 * applied; a settle that failed can be called again and is retried in the background.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, JobLostError, LockLostError, UnavailableError, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

const REQUEST_TIMEOUT_MS = 1000;

describe('queue: settling a claim that may be lost', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const coords: Coordinator[] = [];
  const proxies: FaultProxy[] = [];

  afterEach(async () => {
    for (const p of proxies) p.pass();
    await Promise.allSettled(coords.map((c) => c.close()));
    await Promise.allSettled(proxies.map((p) => p.close()));
    coords.length = 0;
    proxies.length = 0;
  });

  /** One coordinator behind its own fault proxy, one direct. */
  async function setup(
    ttlSeconds = 2,
  ): Promise<{ namespace: string; proxy: FaultProxy; cut: Coordinator; other: Coordinator }> {
    const namespace = uniquePrefix('queue-settle');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    proxies.push(proxy);
    const cut = await connect({
      endpoints: [proxy.endpoint],
      namespace,
      ttlSeconds,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    coords.push(cut);
    const other = await connect({ endpoints: etcd.cluster.endpoints, namespace, ttlSeconds: 2 });
    coords.push(other);
    return { namespace, proxy, cut, other };
  }

  async function keys(prefix: string): Promise<string[]> {
    return etcd.cluster.client().getAll().prefix(prefix).keys();
  }

  it('a consumer cut off across its claim TTL: another consumer takes and acks the job; the late ack rejects LockLostError (completed elsewhere)', async () => {
    const { proxy, cut, other } = await setup();
    const cq = cut.queue<string>('jobs');
    const oq = other.queue<string>('jobs');
    await oq.push('only');
    const job = await cq.pop({ timeoutMs: 10_000 });
    proxy.blackhole();
    const again = await oq.pop({ timeoutMs: 30_000 });
    expect(again.id).toBe(job.id);
    await again.ack();
    proxy.pass();
    // Reconnected first: an attempt refused before it was sent still counts as "may have applied" until
    // the core tells refused requests apart (issue 22), which would make `mayHaveApplied` true below.
    await waitFor(() => cq.size().then(() => true));
    const err = await job.ack().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect((err as LockLostError).code).toBe('LOCK_LOST');
    expect(err).toBeInstanceOf(JobLostError);
    expect((err as JobLostError).job).toBe('completed');
    expect((err as JobLostError).mayHaveApplied).toBe(false);
    expect((err as Error).message).toMatch(/completed elsewhere/);
    // Asking again gives the same answer (nothing is remembered as "done").
    await expect(job.ack()).rejects.toBeInstanceOf(JobLostError);
  }, 60_000);

  it('a late nack after the claim was lost and the job redelivered rejects LockLostError (still queued)', async () => {
    const { proxy, cut, other } = await setup();
    const cq = cut.queue<string>('jobs');
    const oq = other.queue<string>('jobs');
    await oq.push('only');
    const job = await cq.pop({ timeoutMs: 10_000 });
    proxy.blackhole();
    const again = await oq.pop({ timeoutMs: 30_000 });
    proxy.pass();
    const err = await job.nack().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobLostError);
    expect((err as JobLostError).job).toBe('queued');
    expect((err as Error).message).toMatch(/still queued/);
    await again.ack();
  }, 60_000);

  it('an ack whose reply was dropped is retried and resolves: the earlier attempt applied, not LOCK_LOST', async () => {
    // A TTL long enough that the lease surely outlives the dropped replies.
    const { namespace, proxy, cut, other } = await setup(6);
    const cq = cut.queue<string>('jobs');
    await other.queue<string>('jobs').push('only');
    const job = await cq.pop({ timeoutMs: 10_000 });
    proxy.dropReplies();
    const first = await job.ack({ timeoutMs: 1500 }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(UnavailableError);
    expect((first as UnavailableError).mayHaveApplied).toBe(true);
    expect(await keys(`${namespace}queue/jobs/items/`)).toEqual([]); // it did apply
    proxy.pass();
    await job.ack(); // the retry finds the claim gone under a live lease: its own earlier attempt
    expect(cq.stats.acked).toBe(1);
  }, 60_000);

  it('an ack whose reply was dropped and whose lease then expired rejects JobLostError with mayHaveApplied', async () => {
    const { namespace, proxy, cut, other } = await setup();
    const cq = cut.queue<string>('jobs');
    await other.queue<string>('jobs').push('only');
    const job = await cq.pop({ timeoutMs: 10_000 });
    proxy.dropReplies();
    await expect(job.ack({ timeoutMs: 1500 })).rejects.toBeInstanceOf(UnavailableError);
    expect(await keys(`${namespace}queue/jobs/items/`)).toEqual([]); // it did apply
    // The session is declared lost, stops its keepalives, and the server expires the lease.
    await waitFor(() => job.signal.aborted);
    const admin = etcd.cluster.client();
    await waitFor(
      async () => (await admin.getAll().prefix(`${namespace}queue/jobs/consumers/`).keys()).length === 0,
      {
        timeoutMs: 10_000,
      },
    );
    proxy.pass();
    const err = await job.ack().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobLostError);
    expect((err as JobLostError).job).toBe('completed');
    expect((err as JobLostError).mayHaveApplied).toBe(true);
  }, 60_000);

  it('an ack blackholed fails, is retried in the background, and the claim is gone soon after healing (without closing)', async () => {
    const { namespace, proxy, cut, other } = await setup();
    const cq = cut.queue<string>('jobs');
    await other.queue<string>('jobs').push('only');
    const job = await cq.pop({ timeoutMs: 10_000 });
    proxy.blackhole();
    const started = performance.now();
    const first = await job.ack({ timeoutMs: 500 }).catch((e: unknown) => e);
    expect(performance.now() - started).toBeLessThan(500 + 1000);
    expect(first).toBeInstanceOf(UnavailableError);
    proxy.pass();
    const healed = performance.now();
    const held = async () => [
      ...(await keys(`${namespace}queue/jobs/items/`)),
      ...(await keys(`${namespace}queue/jobs/claims/`)),
    ];
    await waitFor(async () => (await held()).length === 0, {
      timeoutMs: 1000 + REQUEST_TIMEOUT_MS + 1000,
    });
    expect(performance.now() - healed).toBeLessThan(1000 + REQUEST_TIMEOUT_MS + 1000);
    await job.ack(); // confirmed by the background retry
  }, 60_000);

  it('process(): an ack refused as lost is reported through onError, and the loop goes on', async () => {
    const { proxy, cut, other } = await setup();
    const cq = cut.queue<string>('jobs');
    const oq = other.queue<string>('jobs');
    await oq.push('first');
    const errors: unknown[] = [];
    const handled: string[] = [];
    let release: () => void = () => undefined;
    const firstDone = new Promise<void>((r) => (release = r));
    const stop = new AbortController();
    const processing = cq.process(
      async (job) => {
        handled.push(job.payload);
        if (job.payload === 'first') await firstDone; // stalls while its claim is lost
      },
      { signal: stop.signal, onError: (err) => errors.push(err) },
    );
    await waitFor(() => handled.length === 1);
    proxy.blackhole();
    const again = await oq.pop({ timeoutMs: 30_000 });
    await again.ack();
    proxy.pass();
    await waitFor(() => cq.size().then(() => true));
    release();
    await waitFor(() => errors.length === 1, { timeoutMs: 15_000 });
    expect(errors[0]).toBeInstanceOf(JobLostError);
    expect((errors[0] as JobLostError).job).toBe('completed');
    await oq.push('second');
    await waitFor(() => handled.includes('second'), { timeoutMs: 30_000 });
    stop.abort();
    await processing;
  }, 90_000);

  it('job.release() gives the job back at once without counting the delivery', async () => {
    const { cut, other } = await setup();
    const cq = cut.queue<string>('jobs');
    const oq = other.queue<string>('jobs');
    await oq.push('only');
    const job = await cq.pop({ timeoutMs: 10_000 });
    expect(job.attempt).toBe(1);
    await job.release();
    const again = await oq.pop({ timeoutMs: 10_000 });
    expect(again.id).toBe(job.id);
    expect(again.attempt).toBe(1);
    await again.ack();
    await expect(job.release()).resolves.toBeUndefined(); // idempotent
  }, 30_000);
});
