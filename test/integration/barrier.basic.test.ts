/** Barrier (hold / release / wait) and DoubleBarrier edge cases, in one process. */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedError,
  ConflictError,
  connect,
  SessionExpiredError,
  type Coordinator,
} from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

/** Settles to 'pending' if `p` has not settled within a short while (for "still blocked" checks only). */
async function stillPending(p: Promise<unknown>, ms = 300): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return !settled;
}

describe('Barrier', () => {
  const etcd = useSharedEtcd('barrier');
  let a: Coordinator;
  let b: Coordinator;

  beforeAll(async () => {
    a = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    b = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('hold() is true once, false while held; release() lets every waiter through at once', async () => {
    const gate = a.barrier('gate');
    expect(await gate.hold()).toBe(true);
    expect(await b.barrier('gate').hold()).toBe(false);
    expect(await gate.hold()).toBe(false);
    expect(await b.barrier('gate').isHeld()).toBe(true);

    const waits = Array.from({ length: 10 }, () => b.barrier('gate').wait({ timeoutMs: 30_000 }));
    expect(await stillPending(Promise.race(waits))).toBe(true);
    // Ten waiters on one coordinator share one etcd watcher.
    expect(b.watchHub.watcherCount).toBe(1);
    expect(await gate.release()).toBe(true);
    await Promise.all(waits);
    expect(await gate.release()).toBe(false);
    expect(await gate.isHeld()).toBe(false);
    await waitFor(() => b.watchHub.watcherCount === 0, { message: 'watch closed after the waits' });
  });

  it('wait() resolves at once when the barrier is not held', async () => {
    await a.barrier('never-held').wait({ timeoutMs: 5000 });
  });

  it('wait() honours timeoutMs and signal', async () => {
    const gate = a.barrier('slow');
    await gate.hold();
    try {
      await expect(b.barrier('slow').wait({ timeoutMs: 200 })).rejects.toBeInstanceOf(AbortedError);
      const ctl = new AbortController();
      const waiting = b.barrier('slow').wait({ signal: ctl.signal });
      ctl.abort();
      await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    } finally {
      await gate.release();
    }
  });

  it('a waiter that saw the release passes even if the barrier is held again right after', async () => {
    const gate = a.barrier('flip');
    await gate.hold();
    const waiting = b.barrier('flip').wait({ timeoutMs: 30_000 });
    await sleep(200);
    await gate.release();
    await gate.hold();
    await waiting;
    await gate.release();
  });

  it('hold({ ephemeral: true }) is released by the holder’s lease: a dead holder does not block for ever', async () => {
    const holder = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    expect(await holder.barrier('ephemeral').hold({ ephemeral: true })).toBe(true);
    const waiting = b.barrier('ephemeral').wait({ timeoutMs: 30_000 });
    expect(await stillPending(waiting)).toBe(true);
    await holder.close(); // revokes the lease, as its expiry would
    await waiting;
  });

  it('coord.close() ends a pending wait() with ABORTED instead of leaving it hanging', async () => {
    await a.barrier('closing').hold();
    const other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    const waiting = other
      .barrier('closing')
      .wait()
      .catch((err: unknown) => err);
    await sleep(200);
    await other.close();
    expect(await waiting).toBeInstanceOf(AbortedError);
    await a.barrier('closing').release();
  });

  it('rejects bad arguments before any request', () => {
    expect(() => a.barrier('')).toThrow(/`name`/);
    expect(() => a.doubleBarrier('x', 0)).toThrow(/`count`/);
    expect(() => a.doubleBarrier('x', 1.5)).toThrow(/`count`/);
    expect(() => a.doubleBarrier('', 2)).toThrow(/`name`/);
  });
});

describe('DoubleBarrier (in process)', () => {
  const etcd = useSharedEtcd('dbarrier');
  let coord: Coordinator;

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('three participants with one session each enter together and leave together; the keys are cleaned up', async () => {
    const sessions = await Promise.all([0, 1, 2].map(() => coord.newSession({ ttlSeconds: 2 })));
    try {
      const bs = sessions.map((session) => coord.doubleBarrier('three', 3, { session }));
      const first = bs[0]!.enter({ timeoutMs: 30_000 });
      const second = bs[1]!.enter({ timeoutMs: 30_000 });
      expect(await stillPending(Promise.race([first, second]))).toBe(true);
      expect(await bs[0]!.participants()).toBe(2);
      await Promise.all([first, second, bs[2]!.enter({ timeoutMs: 30_000 })]);
      expect(bs.every((x) => x.key !== undefined)).toBe(true);

      const leaving = [bs[0]!.leave({ timeoutMs: 30_000 }), bs[1]!.leave({ timeoutMs: 30_000 })];
      expect(await stillPending(Promise.race(leaving))).toBe(true);
      await Promise.all([...leaving, bs[2]!.leave({ timeoutMs: 30_000 })]);
      expect(await etcd.admin.getAll().prefix(`${etcd.prefix}three/`).keys()).toEqual([]);
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  });

  it('enter() that times out removes its key, so it is not counted', async () => {
    const b = coord.doubleBarrier('lonely', 2);
    await expect(b.enter({ timeoutMs: 300 })).rejects.toBeInstanceOf(AbortedError);
    expect(b.key).toBeUndefined();
    expect(await b.participants()).toBe(0);
    await b.leave(); // not inside: nothing to wait for
  });

  it('one session is one participant: a second handle on the same session is a ConflictError', async () => {
    const one = coord.doubleBarrier('same-session', 2);
    const entering = one.enter({ timeoutMs: 30_000 });
    await waitFor(async () => (await one.participants()) === 1);
    await expect(coord.doubleBarrier('same-session', 2).enter({ timeoutMs: 1000 })).rejects.toBeInstanceOf(
      ConflictError,
    );
    await expect(one.enter()).rejects.toBeInstanceOf(ConflictError); // this handle is busy
    const other = await coord.newSession({ ttlSeconds: 2 });
    try {
      const two = coord.doubleBarrier('same-session', 2, { session: other });
      await Promise.all([entering, two.enter({ timeoutMs: 30_000 })]);
      await Promise.all([one.leave({ timeoutMs: 30_000 }), two.leave({ timeoutMs: 30_000 })]);
    } finally {
      await other.close();
    }
  });

  it('a participant whose session is lost while in enter() fails with SESSION_EXPIRED and stops counting', async () => {
    const session = await coord.newSession({ ttlSeconds: 2 });
    const b = coord.doubleBarrier('lost', 2, { session });
    const entering = b.enter({ timeoutMs: 30_000 }).catch((err: unknown) => err);
    await waitFor(async () => (await b.participants()) === 1);
    // Revoke the lease behind the session's back, as an expiry would.
    await coord.client.leaseClient.leaseRevoke({ ID: session.leaseId.toString() });
    expect(await entering).toBeInstanceOf(SessionExpiredError);
    expect(await b.participants()).toBe(0);
    await session.close();
  });

  it('coord.close() removes a participant key that is still inside', async () => {
    const other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    const b = other.doubleBarrier('closing', 5);
    const entering = b.enter().catch((err: unknown) => err);
    await waitFor(async () => (await b.participants()) === 1);
    await other.close();
    expect(await entering).toBeInstanceOf(AbortedError);
    expect(await coord.doubleBarrier('closing', 5).participants()).toBe(0);
  });
});
