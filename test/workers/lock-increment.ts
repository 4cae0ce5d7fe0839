/**
 * Worker for the paused-holder (Jepsen lock-set) test: loops lock → read counter → pause briefly → write
 * counter+1 → unlock, until SIGTERM. With `guarded` the write is a txn guarded by `lock.guard()`; with
 * `unguarded` it is a plain put (the control run, which must lose increments).
 *
 * args: <namespace> <lockName> <counterKey> <guarded|unguarded>; env ETCD_ENDPOINTS.
 * stdout: `ready`, `read <v>` (between read and write: the test pauses the process here), `ack <v>`,
 * `refused` (guard failed), `maybe` (write of unknown outcome), `done <acks>`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Lock } from '../../src/index.js';

const [namespace = '', lockName = 'lock', counterKey = 'counter', mode = 'guarded'] = process.argv.slice(2);
const coord = await connect({ namespace, ttlSeconds: 2, requestTimeoutMs: 2000 });
const fullCounter = coord.keyspace.key(counterKey);
let stopping = false;
process.once('SIGTERM', () => (stopping = true));
let acks = 0;
console.log('ready');

while (!stopping) {
  let lock: Lock | undefined;
  try {
    lock = await coord.mutex(lockName).lock({ timeoutMs: 10_000 });
    const raw = await coord.client.get(fullCounter.toString()).string();
    const value = Number(raw ?? '0');
    console.log(`read ${value}`);
    await sleep(100);
    const next = String(value + 1);
    if (mode === 'guarded') {
      const res = await coord.client
        .if(...lock.guard())
        .then(coord.client.put(fullCounter).value(next))
        .commit();
      if (res.succeeded) {
        acks++;
        console.log(`ack ${next}`);
      } else console.log('refused');
    } else {
      await coord.client.put(fullCounter).value(next);
      acks++;
      console.log(`ack ${next}`);
    }
  } catch (err) {
    const e = err as { code?: string; mayHaveApplied?: boolean; name?: string };
    if (e.mayHaveApplied || e.name === 'GRPCDeadlineExceededError' || e.name === 'GRPCUnavailableError')
      console.log('maybe');
    else console.log(`error ${e.code ?? e.name ?? String(err)}`);
  } finally {
    await lock?.unlock().catch(() => undefined);
  }
}
console.log(`done ${acks}`);
await coord.close();
