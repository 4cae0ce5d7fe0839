/**
 * remove(id) and peek() on the shared etcd: remove deletes a pending job (visible, delayed, or one of a
 * batch) and says so, and leaves a claimed job to its consumer; peek shows the job pop() would hand out
 * next and changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, InvalidArgumentError, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('queue remove and peek', () => {
  const etcd = useSharedEtcd('queue-rp');
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

  it('remove deletes a pending job (true), the next pop skips it, and a second remove says false', async () => {
    const q = coord.queue<string>('rm');
    const a = await q.push('a');
    await q.push('b');
    expect(await q.remove(a)).toBe(true);
    expect(await q.size()).toBe(1);
    const job = await q.pop({ timeoutMs: 10_000 });
    expect(job.payload).toBe('b');
    await job.ack();
    expect(await q.remove(a)).toBe(false);
    expect(await q.remove('999999999')).toBe(false); // never pushed
    await q.close();
  });

  it('remove leaves a claimed job to its consumer (false), who can still ack it', async () => {
    const producer = other.queue<string>('rm-claimed');
    const id = await producer.push('work');
    const q = coord.queue<string>('rm-claimed');
    const job = await q.pop({ timeoutMs: 10_000 });
    expect(job.id).toBe(id);
    expect(await producer.remove(id)).toBe(false);
    expect(await producer.size()).toBe(1);
    await job.ack();
    expect(await producer.size()).toBe(0);
    await q.close();
    await producer.close();
  });

  it('remove takes delayed jobs and single jobs of a batch; the rest of the batch keeps its order', async () => {
    const q = coord.queue<string>('rm-batch');
    const late = await q.push('late', { delayMs: 60_000 });
    const ids = await q.pushMany(['x0', 'x1', 'x2']);
    expect(await q.remove(late)).toBe(true);
    expect(await q.remove(ids[1]!)).toBe(true);
    expect(await q.remove(ids[1]!)).toBe(false);
    const got: string[] = [];
    for (let i = 0; i < 2; i++) {
      const job = await q.pop({ timeoutMs: 10_000 });
      got.push(job.payload);
      await job.ack();
    }
    expect(got).toEqual(['x0', 'x2']);
    expect(await q.size()).toBe(0);
    await q.close();
  });

  it('remove rejects what is not a job id, naming `id`, before any request', async () => {
    const q = coord.queue('rm-bad');
    for (const bad of ['', 'abc', '12.x', '-3', '0', '1.2.3']) {
      await expect(q.remove(bad)).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(q.remove(12 as unknown as string)).rejects.toThrow(/`id`/);
    await q.close();
  });

  it('peek shows the job pop() hands out next (priority, then FIFO, then batch order) and changes nothing', async () => {
    const q = coord.queue<string>('peek');
    expect(await q.peek()).toBeNull();
    await q.push('later', { delayMs: 60_000, priority: 9 });
    expect(await q.peek()).toBeNull(); // only a delayed job
    const low = await q.push('low');
    const batch = await q.pushMany(['hi0', 'hi1'], { priority: 3 });
    const seen = await q.peek();
    expect(seen).toEqual({ id: batch[0], payload: 'hi0', priority: 3, attempts: 0 });
    expect(await q.peek()).toEqual(seen); // nothing changed by looking
    expect(await q.size()).toBe(4);

    const first = await q.pop({ timeoutMs: 10_000 });
    expect(first.id).toBe(seen!.id);
    // Claimed now: the next one shows.
    expect((await q.peek())?.payload).toBe('hi1');
    await first.nack();
    // Given back: it is first again, with its delivery counted.
    expect(await q.peek()).toMatchObject({ id: batch[0], attempts: 1 });
    for (const want of ['hi0', 'hi1', 'low']) {
      const job = await q.pop({ timeoutMs: 10_000 });
      expect(job.payload).toBe(want);
      await job.ack();
    }
    expect(await q.peek()).toBeNull();
    expect(await q.remove(low)).toBe(false);
    await q.close();
  });
  it('peek skips a job whose last delivery died with its consumer (the next pop dead-letters it)', async () => {
    const dying = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 30 });
    const q = coord.queue<string>('peek-dead', { maxAttempts: 1 });
    try {
      await q.push('doomed');
      const job = await dying.queue<string>('peek-dead', { maxAttempts: 1 }).pop({ timeoutMs: 10_000 });
      expect(job.attempt).toBe(1);
      const admin = etcd.admin as unknown as {
        leaseClient: { leaseRevoke(r: { ID: string }): Promise<unknown> };
      };
      await admin.leaseClient.leaseRevoke({ ID: dying.session.leaseId.toString() }); // the consumer "dies"
      expect(await q.size()).toBe(1); // unclaimed again, its one delivery used up
      expect(await q.peek()).toBeNull();
      // A pop is what moves it: it dead-letters the job and, finding nothing else, times out.
      await expect(q.pop({ timeoutMs: 1500 })).rejects.toThrow(/timed out/);
      const letter = await coord.queue<string>('peek-dead.dead').pop({ timeoutMs: 10_000 });
      expect(letter.payload).toBe('doomed');
      await letter.ack();
    } finally {
      await q.close();
      await dying.close();
    }
  });
});
