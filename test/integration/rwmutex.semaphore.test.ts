/**
 * RWMutex (readers overlap, writers exclude, a queued writer is not overtaken) and Semaphore (a fast-check
 * model over acquire / release / session loss: never more than N holders, granted in FIFO order).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type Lock } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('rwMutex', () => {
  const etcd = useSharedEtcd('rwmutex');
  let coords: Coordinator[] = [];
  beforeAll(async () => {
    coords = await Promise.all(
      Array.from({ length: 4 }, () =>
        connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });
  const keyCount = async (name: string) =>
    (await etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).keys()).length;
  // A writer has two keys: its write key and the companion read key a downgrade keeps (write-lock.ts).

  it('concurrent readers overlap; a writer excludes readers and writers', async () => {
    const [a, b, c] = coords as [Coordinator, Coordinator, Coordinator];
    const r1 = await a.rwMutex('rw1').readLock();
    const r2 = await b.rwMutex('rw1').readLock({ timeoutMs: 5000 }); // granted while r1 holds: overlap
    const r3 = await a.rwMutex('rw1').readLock({ timeoutMs: 5000 }); // same session, second reader
    expect(await c.rwMutex('rw1').tryWriteLock()).toBeNull();
    let wGranted = false;
    const wp = c
      .rwMutex('rw1')
      .writeLock()
      .then((w) => ((wGranted = true), w));
    await waitFor(async () => (await keyCount('rw1')) === 5, { message: 'writer queued' });
    await r1.unlock();
    await r2.unlock();
    await sleep(100);
    expect(wGranted).toBe(false);
    await r3.unlock();
    const w = await wp;
    expect(await b.rwMutex('rw1').tryReadLock()).toBeNull();
    expect(await a.rwMutex('rw1').tryWriteLock()).toBeNull();
    await w.unlock();
    expect(await keyCount('rw1')).toBe(0);
  });

  it('a queued writer is not overtaken by later readers', async () => {
    const [a, b, c] = coords as [Coordinator, Coordinator, Coordinator];
    const events: string[] = [];
    const r1 = await a.rwMutex('rw2').readLock();
    const wp = b
      .rwMutex('rw2')
      .writeLock()
      .then(async (w) => {
        events.push('writer');
        await sleep(50);
        events.push('writer done');
        await w.unlock();
      });
    await waitFor(async () => (await keyCount('rw2')) === 3, { message: 'writer queued' });
    const rp = c
      .rwMutex('rw2')
      .readLock()
      .then(async (r) => {
        events.push('late reader');
        await r.unlock();
      });
    await waitFor(async () => (await keyCount('rw2')) === 4, { message: 'late reader queued' });
    await sleep(100);
    expect(events).toEqual([]);
    await r1.unlock();
    await Promise.all([wp, rp]);
    expect(events).toEqual(['writer', 'writer done', 'late reader']);
  });
});

describe('semaphore', () => {
  const etcd = useSharedEtcd('semaphore');
  const clients = 3;
  let coords: Coordinator[] = [];
  beforeAll(async () => {
    coords = await Promise.all(
      Array.from({ length: clients }, () =>
        connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });

  type Cmd =
    | { kind: 'acquire'; client: number }
    | { kind: 'release'; pick: number }
    | { kind: 'lose'; client: number };
  const cmd: fc.Arbitrary<Cmd> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({ kind: fc.constant('acquire' as const), client: fc.nat(clients - 1) }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat(10) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('lose' as const), client: fc.nat(clients - 1) }) },
  );

  interface Entry {
    client: number;
    lock: Lock | undefined;
    error: unknown;
    done: Promise<void>;
  }

  let run = 0;
  it('never more than N holders; permits granted FIFO; a lost session frees its permits (model test)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(cmd, { minLength: 3, maxLength: 10 }),
        async (permits, cmds) => {
          const name = `sem${run++}`;
          const keys = async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).keys()).length;
          // The model: everyone who holds or waits, in enqueue order; the first `permits` hold.
          let queue: Entry[] = [];
          try {
            for (const c of cmds) {
              if (c.kind === 'acquire') {
                const e: Entry = {
                  client: c.client,
                  lock: undefined,
                  error: undefined,
                  done: Promise.resolve(),
                };
                e.done = coords[c.client]!.semaphore(name, permits)
                  .acquire()
                  .then(
                    (l) => void (e.lock = l),
                    (err: unknown) => void (e.error = err),
                  );
                queue.push(e);
                await waitFor(async () => (await keys()) === queue.length, { message: 'enqueued' });
              } else if (c.kind === 'release') {
                const held = queue.slice(0, permits);
                const e = held[c.pick % Math.max(1, held.length)];
                if (!e) continue;
                await e.done;
                await e.lock!.release();
                queue = queue.filter((x) => x !== e);
              } else {
                const coord = coords[c.client]!;
                const session = await coord.currentSession();
                const mine = queue.filter((x) => x.client === c.client);
                await etcd.admin.leaseClient.leaseRevoke({ ID: session.leaseId.toString() });
                await waitFor(() => session.done, { message: 'session noticed the revoke' });
                for (const e of mine) {
                  await e.done;
                  if (e.lock) expect(e.lock.signal.aborted).toBe(true);
                  else expect(e.error).toMatchObject({ code: 'SESSION_EXPIRED' });
                }
                queue = queue.filter((x) => x.client !== c.client);
              }
              // Settle: the first `permits` entries hold, no later one does.
              const holders = queue.slice(0, permits);
              await Promise.all(holders.map((e) => e.done));
              for (const e of holders) expect(e.lock?.held, String(e.error)).toBe(true);
              await sleep(30);
              const live = queue.filter((e) => e.lock?.held);
              expect(live.length).toBeLessThanOrEqual(permits);
              expect(live).toEqual(holders);
            }
          } finally {
            for (const e of queue) {
              // Waiters still queued get their permit as holders leave; release each once it arrives.
              void e.done.then(() => e.lock?.release());
            }
            for (const e of queue) {
              await e.done;
              await e.lock?.release();
            }
          }
          expect(await keys()).toBe(0);
        },
      ),
      { numRuns: 8, endOnFailure: true },
    );
  }, 120_000);
});
