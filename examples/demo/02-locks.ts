import type { Coordinator } from '../../src/index.js';

export const title = 'Locks: fair mutex with fencing tokens, readers-writer lock, semaphore';

export async function run(coord: Coordinator, log: (line: string) => void): Promise<void> {
  const other = await coord.newSession({ ttlSeconds: 5 });
  try {
    const m = coord.mutex('demo/jobs');
    const first = await m.lock();
    log(`locked ${first.key}, fencing token ${first.fencingToken}`);
    const t = performance.now();
    const waiting = coord.mutex('demo/jobs', { session: other }).lock();
    setTimeout(() => void first.unlock(), 200);
    const second = await waiting;
    log(
      `second session waited ${Math.round(performance.now() - t)} ms, got token ${second.fencingToken} (> ${first.fencingToken})`,
    );

    // A stale holder's guarded write is refused: the token protects the data, not the process.
    const out = coord.keyspace.key('demo/out');
    const stale = await coord.client
      .if(...first.guard())
      .then(coord.client.put(out).value('stale'))
      .commit();
    const fresh = await coord.client
      .if(...second.guard())
      .then(coord.client.put(out).value('fresh'))
      .commit();
    log(
      `guarded write by the old holder: ${stale.succeeded ? 'applied' : 'refused'}; by the new one: ${fresh.succeeded ? 'applied' : 'refused'}`,
    );
    await second.unlock();
    await coord.client.delete().key(out);

    const rw = coord.rwMutex('demo/catalog');
    const [r1, r2] = await Promise.all([rw.readLock(), rw.readLock()]);
    log(
      `two readers hold at once; tryWriteLock → ${(await rw.tryWriteLock()) === null ? 'null (readers hold)' : 'granted?!'}`,
    );
    await Promise.all([r1.unlock(), r2.unlock()]);

    const sem = coord.semaphore('demo/pool', 2);
    const permits = await Promise.all([sem.acquire(), sem.acquire()]);
    log(
      `semaphore(2): two permits held; tryAcquire → ${(await sem.tryAcquire()) === null ? 'null' : 'granted?!'}`,
    );
    await Promise.all(permits.map((p) => p.release()));
  } finally {
    await other.close();
  }
}
