/**
 * RW lock downgrade (issue 25): `writeLock.downgrade()` turns a write lock into a read lock in one txn; at
 * no instant is the lock free, no queued writer gets in between, and the readers queued behind the writer
 * (up to the next writer) are admitted. A checker of "a writer never overlaps a reader or writer" runs
 * under contention, with a negative control (release, then re-acquire as a reader) that it must catch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortedError,
  InvalidArgumentError,
  LockLostError,
  connect,
  type Coordinator,
  type Lock,
} from '../../src/index.js';
import { RWChecker } from '../support/occupancy.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('rwMutex: write lock downgrade', () => {
  const etcd = useSharedEtcd('rw-downgrade');
  let coords: Coordinator[] = [];
  beforeAll(async () => {
    coords = await Promise.all(
      Array.from({ length: 4 }, () =>
        connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });
  /** Acquisitions (holders and waiters) under the lock: keys of one acquisition share a create revision. */
  const acquisitions = async (name: string) => {
    const res = await etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).exec();
    return new Set(res.kvs.map((kv) => kv.create_revision)).size;
  };
  const keys = async (name: string) =>
    (await etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).keys()).map((k) =>
      k.slice(etcd.prefix.length + name.length + 1).replace(/\/.*/, ''),
    );

  it('admits the readers queued behind, keeps the next writer (and readers behind it) waiting', async () => {
    const [a, b, c, d] = coords as [Coordinator, Coordinator, Coordinator, Coordinator];
    const events: string[] = [];
    const w = await a.rwMutex('basic').writeLock();
    const r1 = b
      .rwMutex('basic')
      .readLock()
      .then((l) => (events.push('r1'), l));
    await waitFor(async () => (await acquisitions('basic')) === 2, { message: 'r1 queued' });
    const w2 = c
      .rwMutex('basic')
      .writeLock()
      .then((l) => (events.push('w2'), l));
    await waitFor(async () => (await acquisitions('basic')) === 3, { message: 'w2 queued' });
    const r2 = d
      .rwMutex('basic')
      .readLock()
      .then((l) => (events.push('r2'), l));
    await waitFor(async () => (await acquisitions('basic')) === 4, { message: 'r2 queued' });
    await sleep(100);
    expect(events).toEqual([]);

    const r = await w.downgrade();
    expect(w.held).toBe(false);
    expect(w.signal.reason).toBeInstanceOf(AbortedError);
    expect(r.held).toBe(true);
    expect(r.fencingToken).toBe(w.fencingToken);
    expect(r.key).toMatch(/^basic\/read\//);
    const r1Lock = await r1; // the reader behind the writer shares the lock now
    await sleep(300);
    expect(events).toEqual(['r1']); // w2 is not let in; r2 waits behind w2
    await w.unlock(); // a downgraded write handle's unlock does nothing
    expect(r.held).toBe(true);
    await r1Lock.unlock();
    await sleep(200);
    expect(events).toEqual(['r1']); // the downgraded read lock still keeps w2 out
    await r.unlock();
    const w2Lock = await w2;
    expect(w2Lock.fencingToken).toBeGreaterThan(r.fencingToken);
    await sleep(100);
    expect(events).toEqual(['r1', 'w2']);
    await w2Lock.unlock();
    await (await r2).unlock();
    expect(events).toEqual(['r1', 'w2', 'r2']);
    expect(await keys('basic')).toEqual([]);
  });

  it('leaves only the read key; a held downgrade holds off tryWriteLock and admits tryReadLock', async () => {
    const [a, b] = coords as [Coordinator, Coordinator];
    const w = await a.rwMutex('keys').writeLock();
    expect((await keys('keys')).sort()).toEqual(['read', 'write']); // the write key and its companion
    expect(await b.rwMutex('keys').tryReadLock()).toBeNull();
    const r = await w.downgrade();
    expect(await keys('keys')).toEqual(['read']);
    expect(await b.rwMutex('keys').tryWriteLock()).toBeNull();
    const r2 = await b.rwMutex('keys').tryReadLock();
    expect(r2).not.toBeNull();
    await r2!.unlock();
    await r.unlock();
    expect(await keys('keys')).toEqual([]);
  });

  it('refuses a second downgrade, one after unlock, and bad options (which change nothing)', async () => {
    const [a] = coords as [Coordinator];
    const w = await a.rwMutex('refuse').writeLock();
    await expect(w.downgrade({ timeoutMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(w.downgrade({ signal: 'x' as unknown as AbortSignal })).rejects.toBeInstanceOf(TypeError);
    await expect(w.downgrade(null as unknown as object)).rejects.toBeInstanceOf(TypeError);
    expect(w.held).toBe(true);
    const r = await w.downgrade();
    await expect(w.downgrade()).rejects.toBeInstanceOf(LockLostError);
    await r.unlock();
    const w2 = await a.rwMutex('refuse').writeLock();
    await w2.unlock();
    await expect(w2.downgrade()).rejects.toBeInstanceOf(LockLostError);
    expect(await keys('refuse')).toEqual([]);
  });

  it('a lost write lock cannot downgrade (LockLostError), and its keys are gone', async () => {
    const [a] = coords as [Coordinator];
    const w = await a.rwMutex('lost').writeLock();
    await etcd.admin.delete().key(`${etcd.prefix}${w.key}`).exec();
    await waitFor(() => !w.held, { message: 'loss seen' });
    await expect(w.downgrade()).rejects.toBeInstanceOf(LockLostError);
    await w.unlock().catch(() => undefined);
    await waitFor(async () => (await keys('lost')).length === 0, { message: 'companion removed' });
  });

  /**
   * Writers (who downgrade half of the time) and readers on every coordinator, in a loop. `naive` replaces
   * the downgrade by "unlock, then readLock" — a window where the lock is free — which the checker must see.
   */
  async function contend(name: string, naive: boolean): Promise<{ checker: RWChecker; downgrades: number }> {
    const checker = new RWChecker();
    let stop = false;
    let cycles = 0;
    let downgrades = 0;
    const hold = () => sleep(2 + Math.floor(Math.random() * 4));
    const writer = async (c: Coordinator, who: string) => {
      const rw = c.rwMutex(name);
      for (let i = 0; !stop; i++) {
        const w = await rw.writeLock({ timeoutMs: 20_000 });
        checker.enter('write', who);
        await hold();
        if (i % 2 === 0) {
          checker.leave('write');
          await w.unlock();
        } else {
          // From the call on, this holder is a reader: a writer granted before its read lock ends overlaps.
          checker.downgrade(who);
          let r: Lock;
          if (naive) {
            await w.unlock();
            r = await rw.readLock({ timeoutMs: 20_000 });
          } else r = await w.downgrade();
          downgrades++;
          await hold();
          checker.leave('read');
          await r.unlock();
        }
        cycles++;
      }
    };
    const reader = async (c: Coordinator, who: string) => {
      const rw = c.rwMutex(name);
      while (!stop) {
        const r = await rw.readLock({ timeoutMs: 20_000 });
        checker.enter('read', who);
        await hold();
        checker.leave('read');
        await r.unlock();
        cycles++;
      }
    };
    const runs = coords.flatMap((c, i) => [writer(c, `w${i}`), reader(c, `r${i}`)]);
    await waitFor(() => (cycles >= 80 && downgrades >= 10) || checker.violations.length > 0, {
      timeoutMs: 40_000,
      message: 'contention cycles',
    });
    stop = true;
    await Promise.all(runs);
    return { checker, downgrades };
  }

  it('under contention a writer never overlaps a reader or a writer, downgrades included', async () => {
    const { checker, downgrades } = await contend('load', false);
    expect(checker.violations).toEqual([]);
    expect(downgrades).toBeGreaterThanOrEqual(10);
    expect(await keys('load')).toEqual([]);
  }, 60_000);

  it('negative control: unlock-then-readLock lets a writer in between, and the checker sees it', async () => {
    const { checker } = await contend('control', true);
    expect(checker.violations.length).toBeGreaterThan(0);
  }, 60_000);
});
