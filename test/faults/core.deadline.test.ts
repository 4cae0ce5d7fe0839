/**
 * Issue 22: `timeoutMs` is an upper bound whatever internal step is running. The core mechanisms every
 * recipe passes its deadline through (withRetry, Requester.run, currentSession) settle within
 * `timeoutMs` + the documented slack when etcd is paused, stopped or blackholed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, UnavailableError, type Coordinator } from '../../src/index.js';
import { withRetry } from '../../src/core/retry.js';
import { withDeadline } from '../../src/core/deadline.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

/** The slack the API documents on top of `timeoutMs` (timer and event-loop latency on a loaded machine included). */
const SLACK_MS = 1000;

async function timed(fn: () => Promise<unknown>): Promise<{ tookMs: number; error: unknown }> {
  const t = performance.now();
  try {
    await fn();
    return { tookMs: performance.now() - t, error: undefined };
  } catch (error) {
    return { tookMs: performance.now() - t, error };
  }
}

/** A read through withRetry whose request carries no deadline of its own (the coordinator's 5 s default). */
function retriedRead(coord: Coordinator, timeoutMs: number): Promise<unknown> {
  return withRetry(
    () => coord.requester.run('probe', (o) => coord.client.kv.range({ key: Buffer.from('probe') }, o)),
    { timeoutMs, what: 'probe' },
  );
}

describe('timeoutMs bounds withRetry, its requests and currentSession', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('withRetry abandons an attempt that ignores its signal', async () => {
    const r = await timed(() =>
      withRetry(() => new Promise((resolve) => setTimeout(resolve, 5000)), { timeoutMs: 300, what: 'slow' }),
    );
    expect(r.error).toBeInstanceOf(UnavailableError);
    expect(r.tookMs).toBeLessThan(300 + SLACK_MS);
  });

  describe('etcd paused (SIGSTOP)', () => {
    let coord: Coordinator;
    beforeAll(async () => {
      coord = await connect({
        endpoints: etcd.cluster.endpoints,
        namespace: uniquePrefix('dl'),
        ttlSeconds: 2,
      });
      etcd.cluster.members[0]!.pause();
    });
    afterAll(async () => {
      etcd.cluster.members[0]!.resume();
      await coord.close();
    });

    it('a retried read with timeoutMs 1000 settles UNAVAILABLE within the bound, not at the request default', async () => {
      const r = await timed(() => retriedRead(coord, 1000));
      expect(r.error).toBeInstanceOf(UnavailableError);
      expect(r.tookMs).toBeLessThan(1000 + SLACK_MS);
    });

    it('a write cut by a deadline passed in as its signal says it may have applied (CI flake of queue.deadline)', async () => {
      // withRetry hands each attempt its deadline as `signal`; when that fires before gRPC's own deadline
      // (a race under load), the write was sent all the same. Here the signal always wins: 300 ms vs 5 s.
      const deadline = withDeadline(undefined, 300);
      const key = Buffer.from('probe-write');
      const r = await timed(() =>
        coord.requester.run('probe', (o) => coord.client.kv.put({ key, value: key }, o), {
          signal: deadline.signal,
          write: true,
        }),
      );
      deadline.dispose();
      expect(r.error).toBeInstanceOf(UnavailableError);
      expect((r.error as UnavailableError).mayHaveApplied).toBe(true);
      expect(r.tookMs).toBeLessThan(300 + SLACK_MS);
    });

    it('currentSession({ timeoutMs: 1000 }) after the session was lost settles UNAVAILABLE within the bound', async () => {
      await waitFor(() => coord.session.done, { timeoutMs: 5000, message: 'session lost' });
      const r = await timed(() => coord.currentSession({ timeoutMs: 1000 }));
      expect(r.error).toBeInstanceOf(UnavailableError);
      expect(r.tookMs).toBeLessThan(1000 + SLACK_MS);
    });
  });

  it('etcd blackholed: a retried read with timeoutMs 1000 settles within the bound', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: uniquePrefix('dl'),
      ttlSeconds: 2,
    });
    try {
      proxy.blackhole();
      const r = await timed(() => retriedRead(coord, 1000));
      expect(r.error).toBeInstanceOf(UnavailableError);
      expect(r.tookMs).toBeLessThan(1000 + SLACK_MS);
    } finally {
      proxy.pass();
      await coord.close();
      await proxy.close();
    }
  });

  it('etcd stopped: a retried read with timeoutMs 1000 settles within the bound', async () => {
    const coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('dl'),
      ttlSeconds: 2,
    });
    const member = etcd.cluster.members[0]!;
    try {
      await member.stop();
      const r = await timed(() => retriedRead(coord, 1000));
      expect(r.error).toBeInstanceOf(UnavailableError);
      expect(r.tookMs).toBeLessThan(1000 + SLACK_MS);
    } finally {
      await member.restart();
      await coord.close();
    }
  });
});
