/**
 * Mutex worker: lock → read the shared counter → hold a little → write counter+1 guarded by
 * `lock.guard()` → unlock, until quiesced. With TORTURE_UNGUARDED=1 (the negative control) the write
 * is a plain put, which a paused holder can make after losing the lock.
 *
 * History: `lock` {token}, `write` {token, value, write: true}.
 *
 * @module
 */
import { pause, runWorker } from './common.js';
import { MUTEX_COUNT_KEY, MUTEX_NAME } from '../names.js';

await runWorker(async (w) => {
  const { coord, rng } = w;
  const mutex = coord.mutex(MUTEX_NAME);
  const counterKey = coord.keyspace.key(MUTEX_COUNT_KEY);
  while (!w.quiesce.aborted) {
    const locked = await w.record(
      'lock',
      {},
      () => mutex.lock({ timeoutMs: 10_000, signal: w.quiesce }),
      (l) => ({ token: l.fencingToken.toString() }),
    );
    const lock = locked.value;
    if (lock === undefined) {
      await pause(100, w.quiesce);
      continue;
    }
    try {
      const token = lock.fencingToken.toString();
      const read = await w.record(
        'read',
        { token },
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
        { token, value: read.value + 1, write: true, guarded: !w.unguarded },
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
          if (!res.succeeded) throw Object.assign(new Error('guard failed: lock lost'), { code: 'CONFLICT' });
        },
      );
    } finally {
      await lock.unlock().catch(() => undefined);
    }
  }
});
