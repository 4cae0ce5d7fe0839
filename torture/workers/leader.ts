/**
 * `runAsLeader` worker: `TORTURE_CALLERS` concurrent callers on this one coordinator each call
 * `runAsLeader(name, body)` in a loop (issue 14: two `runAsLeader` on one name in one process must not
 * be two leaders). The body runs 100–600 ms, honouring its signal. The `unguarded-leader` control runs
 * the body without `runAsLeader` (the checker's negative control).
 *
 * History: `body` {caller, token, abortedAt?} (ok when it ran to the end), `runAsLeader` {caller}.
 *
 * @module
 */
import { runAsLeader } from '../../src/index.js';
import { monoNow } from '../history.js';
import { LEADER_NAME } from '../names.js';
import { pause, runWorker, type WorkerEnv } from './common.js';

await runWorker(async (w) => {
  await Promise.all(Array.from({ length: w.callers }, (_, caller) => loop(w, caller)));
});

async function loop(w: WorkerEnv, caller: number): Promise<void> {
  while (!w.quiesce.aborted) {
    if (w.control('unguarded-leader')) {
      // The negative control: the body without the election, so bodies overlap.
      await body(w, caller, w.quiesce, BigInt(caller + 1));
      continue;
    }
    await w.record('runAsLeader', { caller }, () =>
      runAsLeader(w.coord, LEADER_NAME, (signal, term) => body(w, caller, signal, term.fencingToken), {
        signal: w.quiesce,
        value: `${w.name}/${caller}`,
      }),
    );
    await pause(w.rng.int(20, 200), w.quiesce);
  }
}

async function body(w: WorkerEnv, caller: number, signal: AbortSignal, token: bigint): Promise<void> {
  const start = monoNow();
  let abortedAt: number | undefined;
  const onAbort = (): void => {
    abortedAt = monoNow();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await pause(w.rng.int(100, 600), signal);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const details = { caller, token: token.toString(), ...(abortedAt === undefined ? {} : { abortedAt }) };
  w.append('body', signal.aborted ? 'failed' : 'ok', details, start);
}
