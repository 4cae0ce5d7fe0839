import { describe, expect, it } from 'vitest';
import type { CallOptions } from '@grpc/grpc-js';
import { currentScope, detached } from '../../src/core/call-scope.js';
import { withRetry } from '../../src/core/retry.js';
import { Requester } from '../../src/core/rpc.js';

/** The deadline a request would carry, in ms from now. */
const deadlineOf = (o: CallOptions) => (o.deadline as Date).getTime() - Date.now();

describe('a call deadline reaches every request made inside it', () => {
  const requester = new Requester(5000);

  it('a request inside withRetry({ timeoutMs }) carries at most the time the call has left', async () => {
    const ms = await withRetry(() => requester.run('probe', async (o) => deadlineOf(o)), { timeoutMs: 300 });
    expect(ms).toBeLessThanOrEqual(300);
    expect(ms).toBeGreaterThan(200);
  });

  it('nested withRetry keeps the earlier deadline', async () => {
    const ms = await withRetry(
      () => withRetry(() => requester.run('probe', async (o) => deadlineOf(o)), { timeoutMs: 5000 }),
      {
        timeoutMs: 300,
      },
    );
    expect(ms).toBeLessThanOrEqual(300);
  });

  it('work that outlives the call is not bound by its deadline', async () => {
    let later: Promise<number> | undefined;
    await withRetry(
      async () => {
        later = new Promise((resolve) => setTimeout(resolve, 50)).then(() =>
          requester.run('later', async (o) => deadlineOf(o)),
        );
      },
      { timeoutMs: 300 },
    );
    expect(await later).toBeGreaterThan(4000);
  });

  it('detached() runs outside any caller scope', async () => {
    await withRetry(
      async () => {
        expect(currentScope()).toBeDefined();
        expect(detached(() => currentScope())).toBeUndefined();
      },
      { timeoutMs: 300 },
    );
  });

  it('a request started after the call deadline passed is not sent', async () => {
    let sent = false;
    const err = await withRetry(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 150));
        return requester.run('late', async () => {
          sent = true;
        });
      },
      { timeoutMs: 50 },
    ).catch((e: unknown) => e);
    expect((err as Error).name).toBe('UnavailableError');
    expect(sent).toBe(false);
  });
});
