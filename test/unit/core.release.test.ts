/**
 * The retrying release behind every recipe's unlock/resign/deregister: pure logic, so the attempts are
 * plain functions (the recipes' own tests run it against a real etcd).
 */
import { describe, expect, it } from 'vitest';
import { Release } from '../../src/core/release.js';
import { PermissionDeniedError, UnavailableError } from '../../src/core/errors.js';

const unavailable = () => new UnavailableError('etcd did not answer', { mayHaveApplied: true });

describe('Release', () => {
  it('a release that failed can be called again, and succeeds once an attempt does', async () => {
    let calls = 0;
    let healthy = false;
    const alive = new AbortController();
    const release = new Release({
      what: 'test: unlock',
      alive: alive.signal,
      failuresPerCall: 2,
      maxBackoffMs: 20,
      attempt: () => {
        calls++;
        return healthy ? Promise.resolve() : Promise.reject(unavailable());
      },
    });
    await expect(release.run()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(release.done).toBe(false);
    healthy = true;
    await release.run();
    expect(release.done).toBe(true);
    const before = calls;
    await release.run(); // confirmed: nothing more is sent
    expect(calls).toBe(before);
    alive.abort();
  });

  it('keeps retrying in the background after every caller gave up, while alive', async () => {
    let healthy = false;
    let succeeded = false;
    const alive = new AbortController();
    const release = new Release({
      what: 'test: unlock',
      alive: alive.signal,
      failuresPerCall: 1,
      maxBackoffMs: 10,
      attempt: () => {
        if (!healthy) return Promise.reject(unavailable());
        succeeded = true;
        return Promise.resolve();
      },
    });
    await expect(release.run()).rejects.toBeInstanceOf(UnavailableError);
    healthy = true;
    await new Promise((r) => setTimeout(r, 100));
    expect(succeeded).toBe(true);
    expect(release.done).toBe(true);
    alive.abort();
  });

  it('stops once alive aborts, rejecting the callers still waiting with the last failure', async () => {
    let calls = 0;
    const alive = new AbortController();
    const release = new Release({
      what: 'test: unlock',
      alive: alive.signal,
      failuresPerCall: 1000,
      maxBackoffMs: 10,
      attempt: () => {
        calls++;
        return Promise.reject(unavailable());
      },
    });
    const pending = release.run();
    await new Promise((r) => setTimeout(r, 50));
    alive.abort();
    await expect(pending).rejects.toBeInstanceOf(UnavailableError);
    const after = calls;
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(after);
  });

  it('a non-transient error ends the loop and is surfaced as is', async () => {
    const alive = new AbortController();
    const release = new Release({
      what: 'test: unlock',
      alive: alive.signal,
      attempt: () => Promise.reject(new PermissionDeniedError('denied')),
    });
    await expect(release.run()).rejects.toBeInstanceOf(PermissionDeniedError);
    alive.abort();
  });

  it('timeoutMs bounds the wait, not the release', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const alive = new AbortController();
    const r = new Release({ what: 'test: unlock', alive: alive.signal, attempt: () => gate });
    await expect(r.run({ timeoutMs: 30 })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    release();
    await r.run();
    expect(r.done).toBe(true);
    alive.abort();
  });

  it('after an unanswered attempt, a later refusal is still reported as may-have-applied', async () => {
    const alive = new AbortController();
    let n = 0;
    const release = new Release({
      what: 'test: ack',
      alive: alive.signal,
      failuresPerCall: 2,
      maxBackoffMs: 5,
      attempt: () =>
        Promise.reject(
          n++ === 0
            ? unavailable()
            : new UnavailableError('refused before sending', { mayHaveApplied: false }),
        ),
    });
    await expect(release.run()).rejects.toMatchObject({ code: 'UNAVAILABLE', mayHaveApplied: true });
    alive.abort();
  });
});
