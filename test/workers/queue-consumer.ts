/**
 * Queue test consumer: pops jobs from queue `name` four at a time and records each step in `outFile`
 * (appended synchronously, so a kill -9 loses at most a partial last line):
 *   `S <id> <n> <attempt> <pid> <startMs>` when handed a job, `D <id> <n> <pid> <startMs>` once its side effect
 *   is done (before the ack, as a real handler would), `A <id> <n> <pid> <startMs> <endMs>` once acked,
 *   `L <id> <n> <pid> <error code>` when the ack failed, `X <id> <n> <pid> <startMs> <ms>` when the job's signal
 *   aborted (its session lease is or may be lost: the claim is no longer trusted, so the job may go elsewhere).
 * Prints `ready <pid>` once connected; SIGTERM stops it cleanly.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, CoordError } from '../../src/index.js';

const [name = 'q', outFile = '/dev/null'] = process.argv.slice(2);
const coord = await connect({ namespace: process.env['QUEUE_NS'] ?? '', ttlSeconds: 2 });
const q = coord.queue<{ n: number }>(name, { maxAttempts: 1000 });
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
const pid = process.pid;
console.log(`ready ${pid}`);
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (!stop.signal.aborted) {
      let job;
      try {
        job = await q.pop({ signal: stop.signal });
      } catch {
        if (!stop.signal.aborted) await sleep(100);
        continue;
      }
      const start = Date.now();
      appendFileSync(outFile, `S ${job.id} ${job.payload.n} ${job.attempt} ${pid} ${start}\n`);
      const j = job;
      const onLost = () =>
        appendFileSync(outFile, `X ${j.id} ${j.payload.n} ${pid} ${start} ${Date.now()}\n`);
      if (job.signal.aborted) onLost();
      else job.signal.addEventListener('abort', onLost, { once: true });
      await sleep(1 + Math.random() * 15); // the "work"
      appendFileSync(outFile, `D ${job.id} ${job.payload.n} ${pid} ${start}\n`);
      try {
        await job.ack();
        appendFileSync(outFile, `A ${job.id} ${job.payload.n} ${pid} ${start} ${Date.now()}\n`);
      } catch (err) {
        appendFileSync(
          outFile,
          `L ${job.id} ${job.payload.n} ${pid} ${err instanceof CoordError ? err.code : String(err)}\n`,
        );
      } finally {
        job.signal.removeEventListener('abort', onLost);
      }
    }
  }),
);
console.log(`stats ${JSON.stringify(q.stats)}`);
await q.close();
await coord.close();
