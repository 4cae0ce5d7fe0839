import { sleep, withDeadline, type WaitOptions } from '../core/deadline.js';
import type { Job } from './job.js';
import type { JobHandler, ProcessOptions } from './options.js';

/**
 * @internal The loops of `queue.process()`: `concurrency` of them, each popping a job, running `handler`
 * on it and acking (resolved) or nacking (thrown) unless the handler settled it, until `stop` aborts.
 * A failed pop backs off (50 ms doubling to 2 s); errors go to `onError`, which must not stop the loop.
 */
export function runWorkers<T>(
  pop: (opts: WaitOptions) => Promise<Job<T>>,
  handler: JobHandler<T>,
  opts: ProcessOptions<T> & { concurrency: number },
  stop: AbortSignal,
): Promise<void> {
  const report = (err: unknown, job: Job<T> | undefined) => {
    try {
      opts.onError?.(err, job);
    } catch {
      // A throwing error reporter must not stop the loop.
    }
  };
  const loop = async () => {
    let failures = 0;
    while (!stop.aborted) {
      let job: Job<T>;
      try {
        job = await pop({ signal: stop });
        failures = 0;
      } catch (err) {
        if (stop.aborted) return;
        report(err, undefined);
        await sleep(Math.min(2000, 50 * 2 ** failures++), stop).catch(() => undefined);
        continue;
      }
      const jobStop = withDeadline(stop, undefined, job.signal);
      try {
        await handler(job, jobStop.signal);
        if (!job.settled) await job.ack();
      } catch (err) {
        report(err, job);
        if (!job.settled)
          await job.nack({ delayMs: opts.retryDelayMs ?? 0 }).catch((e: unknown) => report(e, job));
      } finally {
        jobStop.dispose();
      }
    }
  };
  return Promise.all(Array.from({ length: opts.concurrency }, loop)).then(() => undefined);
}
