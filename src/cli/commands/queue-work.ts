/**
 * `etcd-coord queue work <name> -- <cmd…>`: runs `<cmd>` once per job, payload on its stdin; exit 0 acks,
 * anything else nacks. A graceful shutdown (SIGINT/SIGTERM) stops taking jobs and lets the running
 * commands finish (issue 14 f4): one that exits 0 is acked, one killed by the shutdown (the forwarded
 * signal, or SIGKILL after `--grace`) is given back without counting the delivery.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { durationOption, intOption, requireChild, type Parsed } from '../args.js';
import { withCoordinator } from '../coordinator.js';
import { ExitCode, signalExitCode } from '../exit-codes.js';
import { emit, note, type CliIo } from '../io.js';
import { killPolicy } from '../kill-policy.js';
import { supervise, type Child, type ChildResult } from '../supervise.js';
import type { ConnectOptions, Coordinator, Job, Queue } from '../../index.js';

/** How long running commands may take to finish after SIGINT/SIGTERM, unless `--grace` says otherwise. */
export const DEFAULT_GRACE_MS = 30_000;

type Outcome = 'ack' | 'nack' | 'release';

/**
 * What to do with a job whose command ended with `result`: a command that ended by the shutdown's signal
 * (died of it, of the SIGKILL after `--grace`, or exited 128 + its number) is given back.
 *
 * @example
 * ```ts
 * outcomeOf({ exitCode: 143, code: 143, signal: null, forwarded: 'SIGTERM', lost: undefined }); // 'release'
 * ```
 */
export function outcomeOf(result: ChildResult): Outcome {
  if (result.lost) return 'nack';
  if (result.exitCode === 0) return 'ack';
  const byShutdown =
    result.forwarded !== undefined &&
    (result.signal !== null || result.exitCode === signalExitCode(result.forwarded));
  return byShutdown ? 'release' : 'nack';
}

/**
 * Runs `queue work`.
 *
 * @example
 * ```ts
 * return work(p, io, opts, name, (coord) => coord.queue(name, { codec: RAW }));
 * ```
 *
 * @throws UsageError for bad flags, before connecting; what `connect()` throws
 *
 * Failure modes: a claim lost while `<cmd>` runs (etcd unreachable for about the TTL) terminates it,
 * from the lease like `lock` does, and the job is redelivered elsewhere; an ack that cannot reach etcd
 * leaves the job to be redelivered (at-least-once). A job given back on shutdown keeps its attempt count.
 */
export async function work(
  p: Parsed,
  io: CliIo,
  opts: ConnectOptions,
  name: string,
  open: (coord: Coordinator) => Queue<Buffer>,
): Promise<number> {
  const argv = requireChild(p, 'queue');
  const concurrency = intOption(p, 'concurrency', 'queue', 1, 1000) ?? 1;
  const maxJobs = intOption(p, 'max-jobs', 'queue', 1);
  const retryDelayMs = durationOption(p, 'retry-delay', 'queue') ?? 0;
  const graceMs = durationOption(p, 'grace', 'queue') ?? DEFAULT_GRACE_MS;
  const { killAfterMs, fromLease } = killPolicy(p, 'queue', undefined, io.env);
  return withCoordinator(opts, io, async (coord) => {
    const q = open(coord);
    const enough = new AbortController();
    // Only taking jobs stops on a signal: running commands get it forwarded, and decide.
    const stopTaking = AbortSignal.any([io.signal, enough.signal]);
    const running = new Set<Child>();
    let graceTimer: NodeJS.Timeout | undefined;
    const onShutdown = (): void => {
      graceTimer = setTimeout(() => {
        for (const child of running) child.kill('SIGKILL');
      }, graceMs);
    };
    if (io.signal.aborted) onShutdown();
    else io.signal.addEventListener('abort', onShutdown, { once: true });

    const handle = async (job: Job<Buffer>): Promise<void> => {
      const env = {
        ETCD_COORD_QUEUE: name,
        ETCD_COORD_JOB_ID: job.id,
        ETCD_COORD_JOB_ATTEMPT: String(job.attempt),
      };
      // The claim was just made under the default session (a lost one was replaced before the claim).
      const lease = !fromLease || coord.session.done ? undefined : coord.session;
      const spec = { argv, env, stdin: job.payload, killAfterMs, lease };
      const result = await supervise(io, spec, job.signal, (child) => running.add(child));
      const outcome = outcomeOf(result);
      try {
        if (outcome === 'ack') await job.ack();
        else if (outcome === 'nack') await job.nack({ delayMs: retryDelayMs });
        // Killed by our own shutdown: given back at once, the delivery not counted toward dead-lettering.
        else await job.release();
      } catch (err) {
        note(io, `job ${job.id}: ${outcome} failed: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      if (p.json)
        emit(io, true, '', { id: job.id, attempt: job.attempt, exitCode: result.exitCode, outcome });
      else if (outcome !== 'ack') note(io, `job ${job.id} (attempt ${job.attempt}): ${why(result, outcome)}`);
    };

    let taken = 0;
    const loop = async (): Promise<void> => {
      let failures = 0;
      while (!stopTaking.aborted) {
        let job: Job<Buffer>;
        try {
          job = await q.pop({ signal: stopTaking });
          failures = 0;
        } catch (err) {
          if (stopTaking.aborted) return;
          note(io, `queue "${name}": ${err instanceof Error ? err.message : String(err)}`);
          await sleep(Math.min(2000, 50 * 2 ** failures++), undefined, { signal: stopTaking }).catch(
            () => undefined,
          );
          continue;
        }
        // Counted when taken, so --max-jobs is exact whatever the concurrency.
        if (maxJobs !== undefined && ++taken >= maxJobs) enough.abort();
        await handle(job);
      }
    };
    try {
      await Promise.all(Array.from({ length: concurrency }, loop));
    } finally {
      clearTimeout(graceTimer);
      io.signal.removeEventListener('abort', onShutdown);
      await q.close();
    }
    return ExitCode.OK;
  });
}

function why(result: ChildResult, outcome: Outcome): string {
  if (result.lost) return 'claim lost, command terminated: nacked';
  if (outcome === 'release')
    return `interrupted by ${result.forwarded ?? 'a signal'}: given back (this delivery not counted)`;
  return `exit ${result.exitCode}: nacked`;
}
