/**
 * Issue 22: `timeoutMs` is an upper bound. With the only etcd member paused (SIGSTOP), every barrier call
 * given `{ timeoutMs: 1000 }` settles within 1000 ms + 1 s with a `CoordError`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, CoordError, type Barrier, type Coordinator, type DoubleBarrier } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const TIMEOUT_MS = 1000;
const SLACK_MS = 1000;

describe('barriers with etcd paused: every call settles within timeoutMs + 1 s', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let coord: Coordinator;
  let held: Barrier;
  let free: Barrier;
  let inside: DoubleBarrier;
  let outside: DoubleBarrier;

  beforeEach(async () => {
    coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: uniquePrefix('barrier-deadline') });
    held = coord.barrier('held');
    free = coord.barrier('free');
    expect(await held.hold()).toBe(true);
    inside = coord.doubleBarrier('inside', 1);
    await inside.enter({ timeoutMs: 5000 });
    outside = coord.doubleBarrier('outside', 2);
  });
  afterEach(async () => {
    const member = etcd.cluster.members[0]!;
    if (member.paused) member.resume();
    await coord.close();
  });

  const opts = { timeoutMs: TIMEOUT_MS };
  const calls: [string, () => Promise<unknown>][] = [
    ['barrier.hold', () => free.hold(opts)],
    ['barrier.hold (ephemeral)', () => free.hold({ ...opts, ephemeral: true })],
    ['barrier.release', () => held.release(opts)],
    ['barrier.isHeld', () => held.isHeld(opts)],
    ['barrier.wait', () => held.wait(opts)],
    ['doubleBarrier.enter', () => outside.enter(opts)],
    ['doubleBarrier.leave', () => inside.leave(opts)],
    ['doubleBarrier.participants', () => inside.participants(opts)],
  ];

  for (const [name, call] of calls) {
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
    }, 60_000);
  }

  it('after the session was lost (a new lease is needed), enter and an ephemeral hold still settle in time', async () => {
    const short = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('barrier-deadline-lost'),
      ttlSeconds: 2,
    });
    try {
      const session = short.session;
      etcd.cluster.members[0]!.pause();
      await new Promise<void>((resolve) => session.signal.addEventListener('abort', () => resolve()));
      for (const call of [
        () => short.doubleBarrier('d', 2).enter(opts),
        () => short.barrier('e').hold({ ...opts, ephemeral: true }),
      ]) {
        const started = performance.now();
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(CoordError);
        expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      }
    } finally {
      etcd.cluster.members[0]!.resume();
      await short.close();
    }
  }, 60_000);
});
