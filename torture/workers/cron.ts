/**
 * `cron` worker: `schedule(CRON_JOB, '* * * * * *')` on this worker's coordinator, like the same daemon on
 * every host (issue 19). The handler runs 50–400 ms, honouring its signal. Overlap `wait` and a 30 s
 * catch-up window, so every slot must run (none skipped) unless the worker is cut off longer than that.
 * The `unguarded-cron` control runs the handler every second without the recipe (the negative control).
 *
 * History: `run` {slot, attempt, token} (the handler), `once` {slot, status} (the slot's outcome here, from
 * the job's events). The `final` entry carries the job's records (`slots`: [slot, state, reason]) for the
 * lost-slot checker.
 *
 * @module
 */
import { withRetry } from '../../src/core/retry.js';
import { schedule, type CronRun } from '../../src/index.js';
import { monoNow } from '../history.js';
import { CRON_JOB } from '../names.js';
import { describe, pause, runWorker, type WorkerEnv } from './common.js';

await runWorker(async (w) => {
  if (w.control('unguarded-cron')) {
    let last = -1;
    while (!w.quiesce.aborted) {
      const k = Math.floor(Date.now() / 1000);
      if (k === last) {
        await pause((k + 1) * 1000 - Date.now(), w.quiesce);
        continue;
      }
      last = k;
      const slot = new Date(k * 1000).toISOString().slice(0, 19) + 'Z';
      void unguarded(w, slot).then(
        () => w.append('once', 'ok', { slot, status: 'ran' }),
        () => undefined,
      );
    }
    return;
  }
  const job = schedule(w.coord, CRON_JOB, '* * * * * *', (run) => handler(w, run), {
    host: w.name,
    catchUpMs: 30_000,
    overlap: 'wait',
    signal: w.quiesce,
  });
  job.on('ran', ({ slot }) => w.append('once', 'ok', { slot, status: 'ran' }));
  job.on('skipped', ({ slot, reason }) => w.append('once', 'ok', { slot, status: 'skipped', reason }));
  job.on('failed', ({ slot, error }) => w.append('once', 'failed', { slot, error: describe(error) }));
  let slots: [string, string, string][] = [];
  w.onReport(() => ({ slots }));
  await new Promise<void>((resolve) => w.quiesce.addEventListener('abort', () => resolve(), { once: true }));
  await job.close();
  // The records at the end, for the lost-slot checker (the nemesis has healed by now; retry meanwhile).
  for (let i = 0; i < 30 && slots.length === 0; i++) {
    try {
      slots = (await job.history({ limit: 1_000_000 })).map((h) => [h.slot, h.state, h.reason ?? '']);
    } catch {
      await pause(1_000, w.stopping);
    }
  }
});

async function handler(w: WorkerEnv, run: CronRun): Promise<void> {
  const start = monoNow();
  const details = { slot: run.slot, attempt: run.attempt, token: run.fencingToken.toString() };
  try {
    await pause(w.rng.int(50, 400), run.signal);
    // The job's effect is a write guarded by the slot (as the docs ask: a runner resumed after a pause past
    // its lease may take one more step before its signal aborts). Only a run whose write landed counts.
    const key = w.coord.keyspace.key(`cron-effect/${run.slot}`);
    // Through the library's requester, retried while etcd is unavailable (a leader election after a member
    // kill answers "request timed out"): the same guarded put again is harmless.
    const res = await withRetry(
      () =>
        w.coord.requester.run(
          'cron job effect',
          (o) =>
            w.coord.client.kv.txn(
              { compare: [run.guard], success: [{ request_put: { key, value: Buffer.from(w.name) } }] },
              o,
            ),
          { write: true, signal: run.signal },
        ),
      { signal: run.signal, timeoutMs: 10_000, what: 'cron job effect' },
    );
    if (!res.succeeded) throw new Error(`slot ${run.slot} lost while running (guarded write refused)`);
    w.append('run', 'ok', details, start);
  } catch (err) {
    w.append('run', 'failed', details, start);
    throw err;
  }
}

/** The negative control's job: the same effect, with no slot and no guard. */
async function unguarded(w: WorkerEnv, slot: string): Promise<void> {
  const start = monoNow();
  await pause(w.rng.int(50, 400), w.quiesce);
  w.append('run', 'ok', { slot, attempt: 1, token: '0' }, start);
}
