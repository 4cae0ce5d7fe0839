/**
 * Workers sharing one resource through the fair mutex, with fencing: each worker increments a counter in
 * etcd under the lock, and the write is guarded by `lock.guard()`, so a worker that lost the lock (paused,
 * partitioned, lease expired) can never overwrite a newer holder's work. Also a semaphore capping how many
 * workers call a (pretend) rate-limited API at once.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/locks.ts [workers]
 *
 * Runs until Ctrl-C; with EXAMPLE_SMOKE=1 it runs for about 2 s, prints the totals, cleans up and exits.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Coordinator } from '../src/index.js';

const smoke = process.env.EXAMPLE_SMOKE === '1';
const workers = Number(process.argv[2] ?? 4);
const namespace = smoke ? `examples/locks-${process.pid}/` : 'examples/locks/';
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());
if (smoke) setTimeout(() => stop.abort(), 2000).unref();

async function worker(
  coord: Coordinator,
  id: number,
  stats: { acked: number; refused: number; inApi: number; maxInApi: number },
) {
  const counter = coord.keyspace.key('counter');
  const api = coord.semaphore('api', 2);
  while (!stop.signal.aborted) {
    try {
      await coord.mutex('counter-lock').withLock(
        async (lock) => {
          const value = Number((await coord.client.get(counter.toString()).string()) ?? '0');
          const res = await coord.client
            .if(...lock.guard())
            .then(coord.client.put(counter).value(String(value + 1)))
            .commit();
          if (res.succeeded) stats.acked++;
          else stats.refused++; // we lost the lock between read and write: nothing overwritten
        },
        { signal: stop.signal },
      );
      await using permit = await api.acquire({ signal: stop.signal });
      stats.inApi++;
      stats.maxInApi = Math.max(stats.maxInApi, stats.inApi);
      await sleep(5, undefined, { signal: permit.signal }).catch(() => undefined); // the rate-limited call
      stats.inApi--;
    } catch (err) {
      if (stop.signal.aborted) break;
      console.error(`worker ${id}:`, (err as Error).message);
    }
  }
}

const coords = await Promise.all(
  Array.from({ length: workers }, () => connect({ namespace, ttlSeconds: 5 })),
);
const stats = { acked: 0, refused: 0, inApi: 0, maxInApi: 0 };
try {
  await Promise.all(coords.map((c, i) => worker(c, i, stats)));
  const final = (await coords[0]!.client.get(coords[0]!.keyspace.key('counter').toString()).string()) ?? '0';
  console.log(
    `${workers} workers: ${stats.acked} guarded increments acknowledged, counter = ${final}, ${stats.refused} refused`,
  );
  console.log(`semaphore(2): at most ${stats.maxInApi} workers in the API at once`);
} finally {
  if (smoke) await coords[0]!.client.delete().prefix(namespace);
  await Promise.all(coords.map((c) => c.close()));
}
