import { describe, expect, it } from 'vitest';
import { DeadlineExceeded, raceAbort, sleep, withDeadline } from '../../src/core/deadline.js';
import { AbortedError, CoordError, LockTimeoutError } from '../../src/core/errors.js';
import { withRetry } from '../../src/core/retry.js';
import { UnavailableError } from '../../src/core/errors.js';

describe('deadlines', () => {
  it('a timeout aborts the combined signal with DeadlineExceeded', async () => {
    const d = withDeadline(undefined, 20);
    await new Promise((r) => d.signal.addEventListener('abort', r));
    expect(d.signal.reason).toBeInstanceOf(DeadlineExceeded);
    expect(d.timedOut).toBe(true);
    d.dispose();
  });

  it('the caller signal aborts the combined signal, and dispose removes the listener', async () => {
    const parent = new AbortController();
    const d = withDeadline(parent.signal, 10_000);
    parent.abort(new Error('stop'));
    expect(d.signal.aborted).toBe(true);
    d.dispose();
    const d2 = withDeadline(parent.signal);
    expect(d2.signal.aborted).toBe(true);
  });

  it('raceAbort maps a timeout to the recipe error and hands a late result to onLate', async () => {
    const d = withDeadline(undefined, 10);
    let late: number | undefined;
    const p = raceAbort(
      new Promise<number>((r) => setTimeout(() => r(7), 50)),
      d.signal,
      'lock',
      (v) => (late = v),
      (ms) => new LockTimeoutError(`timed out after ${ms} ms`),
    );
    await expect(p).rejects.toBeInstanceOf(LockTimeoutError);
    await sleep(80);
    expect(late).toBe(7);
    d.dispose();
  });

  it('sleep rejects with AbortedError when aborted', async () => {
    const c = new AbortController();
    const p = sleep(10_000, c.signal);
    c.abort();
    await expect(p).rejects.toBeInstanceOf(AbortedError);
  });

  it('withRetry retries transient errors only, and stops when aborted', async () => {
    let n = 0;
    await expect(
      withRetry(
        async () => {
          n++;
          if (n < 3) throw new UnavailableError('down');
          return 'ok';
        },
        { minTimeoutMs: 1 },
      ),
    ).resolves.toBe('ok');
    let m = 0;
    await expect(
      withRetry(async () => {
        m++;
        throw new TypeError('bad');
      }),
    ).rejects.toBeInstanceOf(TypeError);
    expect(m).toBe(1);
    const c = new AbortController();
    const p = withRetry(
      async () => {
        throw new UnavailableError('down');
      },
      { signal: c.signal, minTimeoutMs: 1000 },
    );
    setTimeout(() => c.abort(), 20);
    await expect(p).rejects.toBeInstanceOf(CoordError);
  });
});
