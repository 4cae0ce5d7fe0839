/**
 * pushMany on the shared etcd: one txn for the whole batch (one revision, every job or none), ids in the
 * order given, served in that order between the jobs pushed before and after it, and bad input rejected
 * naming `items` before anything is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, InvalidArgumentError, MAX_PUSH_MANY, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('queue pushMany', () => {
  const etcd = useSharedEtcd('queue-many');
  let coord: Coordinator;
  let other: Coordinator;

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
    await other.close();
  });

  /** Pops (and acks) everything visible, in the order it is handed out. */
  async function drain<T>(q: ReturnType<Coordinator['queue']>, n: number): Promise<{ id: string; p: T }[]> {
    const out: { id: string; p: T }[] = [];
    for (let i = 0; i < n; i++) {
      const job = await q.pop({ timeoutMs: 10_000 });
      out.push({ id: job.id, p: job.payload as T });
      await job.ack();
    }
    return out;
  }

  it('a batch is one txn: its ids share one revision, come back in order, and its jobs are served in that order between the pushes around it', async () => {
    const producer = other.queue<string>('fifo');
    const before = await producer.push('before');
    const ids = await producer.pushMany(['b0', 'b1', 'b2', 'b3', 'b4']);
    const after = await producer.push('after');
    const revision = ids[0]!.split('.')[0]!;
    expect(ids).toEqual([0, 1, 2, 3, 4].map((i) => `${revision}.${i}`));
    expect(BigInt(revision) > BigInt(before)).toBe(true);
    expect(BigInt(after) > BigInt(revision)).toBe(true);

    // A consumer on another client sees the batch through its watch, all at once, in array order.
    const q = coord.queue<string>('fifo');
    const got = await drain<string>(q, 7);
    expect(got.map((g) => g.p)).toEqual(['before', 'b0', 'b1', 'b2', 'b3', 'b4', 'after']);
    expect(got.map((g) => g.id)).toEqual([before, ...ids, after]);
    expect(await q.size()).toBe(0);
    await q.close();
    await producer.close();
  });

  it('a batch takes one priority and delay for all its jobs, and higher priority still goes first', async () => {
    const q = coord.queue<string>('prio');
    await q.pushMany(['low0', 'low1']);
    await q.pushMany(['high0', 'high1'], { priority: 7 });
    await q.pushMany(['late'], { delayMs: 60_000 });
    const got = await drain<string>(q, 4);
    expect(got.map((g) => g.p)).toEqual(['high0', 'high1', 'low0', 'low1']);
    expect(await q.size()).toBe(1); // the delayed one
    await q.close();
  });

  it(`takes ${MAX_PUSH_MANY} jobs in one txn; ${MAX_PUSH_MANY + 1} are rejected naming \`items\`, nothing written`, async () => {
    const q = coord.queue<number>('max');
    const many = Array.from({ length: MAX_PUSH_MANY }, (_, i) => i);
    const ids = await q.pushMany(many);
    expect(new Set(ids.map((id) => id.split('.')[0])).size).toBe(1);
    expect(await q.size()).toBe(MAX_PUSH_MANY);

    const empty = coord.queue<number>('max-over');
    const err = await empty.pushMany([...many, MAX_PUSH_MANY]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/`items`.*at most 127/);
    expect(await empty.size()).toBe(0);
    await q.close();
    await empty.close();
  });

  it('one bad item rejects the whole batch naming it, before any request', async () => {
    const q = coord.queue<unknown>('bad');
    const err = await q.pushMany([{ ok: 1 }, { ok: 2 }, { when: new Date() }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain('`items[2]`');
    await expect(q.pushMany('abc' as unknown as unknown[])).rejects.toThrow(TypeError);
    await expect(q.pushMany([1], { priority: -1 })).rejects.toThrow(/`priority`/);
    await expect(q.pushMany([1], { wait: 'yes' as unknown as boolean })).rejects.toThrow(/`wait`/);
    const huge = 'x'.repeat(200_000);
    await expect(q.pushMany(Array.from({ length: 10 }, () => huge))).rejects.toThrow(
      /`items`.*bytes together/,
    );
    expect(await q.size()).toBe(0);
    expect(await q.pushMany([])).toEqual([]);
    await q.close();
  });

  it('a batch pushed right after etcd revoked the session lease lands once, on a new session', async () => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 30 });
    try {
      const q = c.queue<number>('revoked');
      await q.pushMany([1]);
      const old = c.session.leaseId;
      await (
        etcd.admin as unknown as { leaseClient: { leaseRevoke(r: { ID: string }): Promise<unknown> } }
      ).leaseClient.leaseRevoke({ ID: old.toString() });
      const ids = await q.pushMany([2, 3]);
      expect(ids).toHaveLength(2);
      expect(c.session.leaseId).not.toBe(old);
      const got: number[] = [];
      for (let i = 0; i < 3; i++) {
        const job = await q.pop({ timeoutMs: 10_000 });
        got.push(job.payload);
        await job.ack();
      }
      expect(got).toEqual([1, 2, 3]);
      expect(await q.size()).toBe(0);
      await q.close();
    } finally {
      await c.close();
    }
  });

  it('a batch marker is cleaned up after a clean push (no key left behind besides the jobs)', async () => {
    const q = coord.queue<number>('marker');
    await q.pushMany([1, 2, 3]);
    const prefix = `${etcd.prefix}queue/marker/batches/`;
    let left = -1;
    for (let i = 0; i < 50 && left !== 0; i++) {
      left = (await etcd.admin.getAll().prefix(prefix).keys()).length;
      if (left !== 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(left).toBe(0);
    await q.close();
  });
});
