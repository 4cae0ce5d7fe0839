/**
 * Issue 22: `timeoutMs` is an upper bound. With the only etcd member paused (SIGSTOP: sockets open, no
 * answers), every counter call given `{ timeoutMs: 1000 }` settles within 1000 ms + 1 s with a
 * `CoordError` (`UNAVAILABLE`, or `ABORTED` "timed out" between attempts), never hangs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { UnavailableError } from '../../src/index.js';
import { connect, CoordError, type AtomicCounter, type Coordinator, type Counter } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const TIMEOUT_MS = 1000;
const SLACK_MS = 1000;

describe('counters with etcd paused: every call settles within timeoutMs + 1 s', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let coord: Coordinator;
  let h: { counter: Counter; atomic: AtomicCounter };

  beforeEach(async () => {
    coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: uniquePrefix('counter-deadline') });
    // Warm the handles' caches and the connection, so the paused call is the only thing measured.
    h = { counter: coord.counter('c'), atomic: coord.atomicCounter('a') };
    await h.counter.increment();
    await h.atomic.add(1);
  });
  afterEach(async () => {
    const member = etcd.cluster.members[0]!;
    if (member.paused) member.resume();
    await coord.close();
  });

  /** name, call, and whether it is a write that was sent (then: UNAVAILABLE with `mayHaveApplied`). */
  const calls: [string, () => Promise<unknown>, boolean?][] = [
    ['counter.get', () => h.counter.get({ timeoutMs: TIMEOUT_MS })],
    ['counter.increment', () => h.counter.increment({ timeoutMs: TIMEOUT_MS }), true],
    ['counter.reset', () => h.counter.reset({ timeoutMs: TIMEOUT_MS }), true],
    ['atomicCounter.get', () => h.atomic.get({ timeoutMs: TIMEOUT_MS })],
    // The handle's cache is fresh, so the CAS goes out at once: an unknown outcome, reported as such.
    ['atomicCounter.add', () => h.atomic.add(1, { timeoutMs: TIMEOUT_MS }), true],
    ['atomicCounter.compareAndSet', () => h.atomic.compareAndSet(5, 6, { timeoutMs: TIMEOUT_MS })],
  ];

  for (const [name, call, write] of calls) {
    it(`${name}({ timeoutMs: ${TIMEOUT_MS} }) settles in time with a CoordError`, async () => {
      etcd.cluster.members[0]!.pause();
      const started = performance.now();
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      expect(err).toBeInstanceOf(CoordError);
      expect(['UNAVAILABLE', 'ABORTED']).toContain((err as CoordError).code);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      if (write) {
        expect((err as CoordError).code).toBe('UNAVAILABLE');
        expect((err as UnavailableError).mayHaveApplied).toBe(true);
      }
    }, 30_000);
  }
});
