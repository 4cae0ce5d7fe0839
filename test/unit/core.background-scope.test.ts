/**
 * Background loops outlive the call that starts them and are shared by later callers: they must not run
 * inside the starting call's scope (its deadline would cap, then abort, every request of the loop).
 */
import { describe, expect, it } from 'vitest';
import { currentScope, type CallScope } from '../../src/core/call-scope.js';
import { UnavailableError } from '../../src/core/errors.js';
import { Release } from '../../src/core/release.js';
import { withRetry } from '../../src/core/retry.js';

describe('background loops run outside the scope of the call that started them', () => {
  it("Release: the attempts after a caller's deadline are not bound by it", async () => {
    const alive = new AbortController();
    const scopes: (CallScope | undefined)[] = [];
    let calls = 0;
    const release = new Release({
      what: 'test: unlock',
      alive: alive.signal,
      failuresPerCall: 1_000,
      maxBackoffMs: 20,
      attempt: () => {
        scopes.push(currentScope());
        return ++calls >= 6 ? Promise.resolve() : Promise.reject(new UnavailableError('no answer'));
      },
    });
    try {
      // A caller with a short deadline starts the loop and gives up; the loop goes on for the release.
      await expect(withRetry(() => release.run(), { timeoutMs: 50, retries: 0 })).rejects.toMatchObject({
        code: 'UNAVAILABLE',
      });
      await release.run({ timeoutMs: 5000 });
      expect(release.done).toBe(true);
      expect(scopes.every((s) => s === undefined)).toBe(true);
    } finally {
      alive.abort();
    }
  });
});
