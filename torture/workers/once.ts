/**
 * `once` worker: every 2 s of wall clock is a slot; each of `TORTURE_CALLERS` concurrent callers on
 * this one coordinator calls `once(job, { slot })` for it, like the same crontab on every host (issue
 * 14: several callers per process and per session). The handler runs 50–400 ms, honouring its signal.
 * The `unguarded-once` control runs the handler without `once()` (the checker's negative control).
 *
 * History: `run` {slot, caller, attempt, token, abortedAt?} (the handler: ok when it returned),
 * `once` {slot, caller, status, write: true} (the call).
 *
 * @module
 */
import { once, type OnceSlot } from '../../src/index.js';
import { monoNow } from '../history.js';
import { ONCE_JOB } from '../names.js';
import { pause, runWorker, type WorkerEnv } from './common.js';

const SLOT_MS = 2_000;

await runWorker(async (w) => {
  let last = -1;
  while (!w.quiesce.aborted) {
    const k = Math.floor(Date.now() / SLOT_MS);
    if (k === last) {
      await pause((k + 1) * SLOT_MS - Date.now() + w.rng.int(0, 100), w.quiesce);
      continue;
    }
    last = k;
    const slot = `s${k}`;
    await Promise.all(Array.from({ length: w.callers }, (_, caller) => call(w, slot, caller)));
  }
});

async function call(w: WorkerEnv, slot: string, caller: number): Promise<void> {
  if (w.control('unguarded-once')) {
    // The negative control: a "once" that always runs, callers staggered so that some runs of a slot
    // overlap (across workers) and some come after a success (within a worker).
    await w.record(
      'once',
      { slot, caller, write: true },
      async () => {
        await pause(caller * 450, w.quiesce);
        await handler(w, slot, caller, w.quiesce);
        return { status: 'ran' };
      },
      (r) => r,
    );
    return;
  }
  await w.record(
    'once',
    { slot, caller, write: true },
    () =>
      once(
        w.coord,
        ONCE_JOB,
        { slot, host: `${w.name}/${caller}`, timeoutMs: 10_000, signal: w.quiesce },
        (signal, s) => handler(w, slot, caller, signal, s),
      ),
    (r) => ({ status: r.status }),
  );
}

async function handler(
  w: WorkerEnv,
  slot: string,
  caller: number,
  signal: AbortSignal,
  s?: OnceSlot,
): Promise<void> {
  const start = monoNow();
  let abortedAt: number | undefined;
  const onAbort = (): void => {
    abortedAt = monoNow();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const details = { slot, caller, attempt: s?.attempt ?? 1, token: s?.fencingToken.toString() ?? '0' };
  try {
    await pause(w.rng.int(50, 400), signal);
    if (signal.aborted) throw new Error(`slot ${slot} lost while running`);
    w.append('run', 'ok', details, start);
  } catch (err) {
    w.append('run', 'failed', { ...details, abortedAt }, start);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
