import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { connect, UnavailableError } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** How long `fn` took to settle, and with what. */
async function timed(fn: () => Promise<unknown>): Promise<{ tookMs: number; error: unknown }> {
  const t = performance.now();
  try {
    await fn();
    return { tookMs: performance.now() - t, error: undefined };
  } catch (error) {
    return { tookMs: performance.now() - t, error };
  }
}

// The bound under test is the API's own deadline (+1 s of slack), a correctness property: nothing hangs.
describe('nothing hangs when etcd is unreachable', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('connect() to a closed port rejects with UNAVAILABLE within dialTimeoutMs', async () => {
    const port = await closedPort();
    const r = await timed(() => connect({ endpoints: [`127.0.0.1:${port}`], dialTimeoutMs: 1500 }));
    expect(r.error).toBeInstanceOf(UnavailableError);
    expect((r.error as UnavailableError).code).toBe('UNAVAILABLE');
    expect(r.tookMs).toBeLessThanOrEqual(1500 + 1000);
  });

  it('connect() to a blackholed endpoint (TCP open, no answer) rejects within dialTimeoutMs', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    proxy.blackhole();
    try {
      const r = await timed(() => connect({ endpoints: [proxy.endpoint], dialTimeoutMs: 1500 }));
      expect(r.error).toBeInstanceOf(UnavailableError);
      expect(r.tookMs).toBeLessThanOrEqual(1500 + 1000);
    } finally {
      await proxy.close();
    }
  });

  it('operations on a connected coordinator reject within their deadline once etcd is blackholed; close() completes', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: uniquePrefix('unavail'),
      ttlSeconds: 2,
    });
    try {
      proxy.blackhole();
      const count = await timed(() => coord.range('x/', { timeoutMs: 1000 }).count());
      expect(count.error).toBeInstanceOf(UnavailableError);
      expect(count.tookMs).toBeLessThanOrEqual(1000 + 1000);
      const iterate = await timed(async () => {
        for await (const _ of coord.range('x/', { timeoutMs: 1000 })) void _;
      });
      expect(iterate.error).toBeInstanceOf(UnavailableError);
      expect(iterate.tookMs).toBeLessThanOrEqual(1000 + 1000);
      const session = await timed(() => coord.newSession({ ttlSeconds: 2 }));
      expect(session.error).toBeInstanceOf(UnavailableError);
    } finally {
      const closing = await timed(() => coord.close());
      expect(closing.error).toBeUndefined();
      await proxy.close();
    }
  });

  it('operations reject with UNAVAILABLE when the etcd process is gone, and work again once it is back', async () => {
    const member = etcd.cluster.members[0]!;
    const coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('down'),
      ttlSeconds: 2,
    });
    try {
      await member.kill();
      const r = await timed(() => coord.range('x/', { timeoutMs: 1000 }).count());
      expect(r.error).toBeInstanceOf(UnavailableError);
      expect(r.tookMs).toBeLessThanOrEqual(1000 + 1000);
      await member.restart();
      expect(await coord.range('x/', { timeoutMs: 5000 }).count()).toBe(0n);
    } finally {
      await coord.close();
    }
  });
});
