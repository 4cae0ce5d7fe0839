/**
 * Mutex worker: lock → read the shared counter → hold a little → write counter+1 guarded by
 * `lock.guard()` → unlock, until quiesced. With TORTURE_UNGUARDED=1 (the negative control) the write
 * is a plain put, which a paused holder can make after losing the lock.
 *
 * `TORTURE_CALLERS` > 1 runs that many loops on the one coordinator and mutex (issue 14: several
 * `lock()` calls on one session and name); entries carry `caller`, the checkers tell holders apart by it.
 * The `leak-lock` control takes the lock once more at quiesce and forgets it (the ghost-key checker's
 * negative control). On SIGUSR2 the worker reports the lock keys it believes it holds (`held`).
 *
 * History: `lock` {caller, token}, `write` {caller, token, value, write: true}, `final` {held}.
 *
 * @module
 */
import { pause, runWorker } from './common.js';
import { MUTEX_COUNT_KEY, MUTEX_NAME } from '../names.js';

await runWorker(async (w) => {
  const { coord, rng } = w;
  const mutex = coord.mutex(MUTEX_NAME);
  const counterKey = coord.keyspace.key(MUTEX_COUNT_KEY);
  const held = new Map<string, number>(); // key → callers holding it
  w.onReport(() => ({ held: [...held.keys()].sort() }));
  await Promise.all(Array.from({ length: w.callers }, (_, caller) => loop(caller)));
  if (w.control('leak-lock')) {
    // The negative control: a key under a live session whose owner does not know it holds it.
    await mutex.lock({ timeoutMs: 10_000 }).catch(() => undefined);
  }

  async function loop(caller: number): Promise<void> {
    while (!w.quiesce.aborted) {
      const locked = await w.record(
        'lock',
        { caller },
        () => mutex.lock({ timeoutMs: 10_000, signal: w.quiesce }),
        (l) => ({ token: l.fencingToken.toString() }),
      );
      const lock = locked.value;
      if (lock === undefined) {
        await pause(100, w.quiesce);
        continue;
      }
      held.set(lock.key, (held.get(lock.key) ?? 0) + 1);
      try {
        const token = lock.fencingToken.toString();
        const read = await w.record(
          'read',
          { caller, token },
          async () => {
            const res = await coord.requester.run(
              'torture read',
              (o) => coord.client.kv.range({ key: counterKey }, o),
              {},
            );
            const raw = res.kvs[0]?.value.toString();
            return raw === undefined ? 0 : Number(raw);
          },
          (v) => ({ value: v }),
        );
        if (read.value === undefined) continue;
        // The window a pause or a partition most likely hits: the lock is held, the write not yet sent.
        await new Promise((r) => setTimeout(r, rng.int(20, 120)));
        const next = Buffer.from(String(read.value + 1));
        const l = lock;
        await w.record(
          'write',
          { caller, token, value: read.value + 1, write: true, guarded: !w.unguarded },
          async () => {
            if (w.unguarded) {
              await coord.requester.run(
                'torture put',
                (o) => coord.client.kv.put({ key: counterKey, value: next }, o),
                {
                  write: true,
                },
              );
              return;
            }
            const res = await coord.requester.run(
              'torture guarded put',
              (o) =>
                coord.client
                  .if(...l.guard())
                  .then(coord.client.put(counterKey).value(next))
                  .options(o)
                  .commit(),
              { write: true },
            );
            if (!res.succeeded)
              throw Object.assign(new Error('guard failed: lock lost'), { code: 'CONFLICT' });
          },
        );
      } finally {
        // Whatever unlock() answers, the caller moves on believing it released: a key left behind is a ghost.
        await lock.unlock().catch(() => undefined);
        const n = (held.get(lock.key) ?? 1) - 1;
        if (n > 0) held.set(lock.key, n);
        else held.delete(lock.key);
      }
    }
  }
});
