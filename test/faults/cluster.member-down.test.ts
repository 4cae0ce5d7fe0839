/**
 * Issue 22: a cluster with one member down must just work. A request refused before it reached any server
 * (killed member, closed port, blackholed endpoint) goes to the next healthy endpoint and is never reported
 * as "may have been applied"; a request that did reach etcd and lost its reply keeps the careful handling.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, UnavailableError, type Coordinator } from '../../src/index.js';
import type { EtcdMember } from '../support/etcd.js';
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

/** Every order of `items`. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

interface Tally {
  ok: number;
  failures: string[];
  mayHaveApplied: number;
  increments: number;
}

/** `calls` mixed recipe calls through the public API, one after the other, on one coordinator. */
async function mixedCalls(coord: Coordinator, calls: number): Promise<Tally> {
  const tally: Tally = { ok: 0, failures: [], mayHaveApplied: 0, increments: 0 };
  const counter = coord.counter('c');
  const atomic = coord.atomicCounter('a');
  const mutex = coord.mutex('m');
  const queue = coord.queue('q');
  const ops: (() => Promise<unknown>)[] = [
    async () => {
      await counter.increment();
      tally.increments++;
    },
    () => atomic.add(1n),
    async () => {
      const lock = await mutex.lock({ timeoutMs: 5000 });
      await lock.unlock();
    },
    () => queue.push({ n: 1 }),
    () => counter.get(),
    () => atomic.get(),
  ];
  for (let i = 0; i < calls; i++) {
    try {
      await ops[i % ops.length]!();
      tally.ok++;
    } catch (err) {
      if (err instanceof UnavailableError && err.mayHaveApplied) tally.mayHaveApplied++;
      tally.failures.push(`${i % ops.length}: ${(err as Error).message}`);
    }
  }
  return tally;
}

describe('one member down: every call succeeds, nothing is reported "may have applied"', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });
  let dead: EtcdMember;
  let live: string[];
  let blackholed: FaultProxy;
  let closed: string;

  beforeAll(async () => {
    const leader = await etcd.cluster.leader();
    dead = etcd.cluster.members.find((m) => m !== leader)!;
    live = etcd.cluster.endpoints.filter((e) => e !== dead.endpoint);
    await dead.kill();
    blackholed = await FaultProxy.start(live[0]!);
    blackholed.blackhole();
    closed = `127.0.0.1:${await closedPort()}`;
  }, 60_000);

  afterAll(async () => {
    await blackholed?.close();
  });

  const CALLS_PER_ORDER = 200;

  for (const kind of ['killed member', 'closed port', 'blackholed endpoint'] as const) {
    it(`${kind}: ${CALLS_PER_ORDER} mixed calls per endpoint order, 0 failures, 0 mayHaveApplied`, async () => {
      const bad =
        kind === 'killed member' ? dead.endpoint : kind === 'closed port' ? closed : blackholed.endpoint;
      const orders = permutations([bad, ...live]);
      const results = await Promise.all(
        orders.map(async (endpoints) => {
          const coord = await connect({ endpoints, namespace: uniquePrefix('member-down'), ttlSeconds: 2 });
          try {
            const tally = await mixedCalls(coord, CALLS_PER_ORDER);
            const value = await coord.counter('c').get();
            return { endpoints, tally, value };
          } finally {
            await coord.close();
          }
        }),
      );
      for (const { endpoints, tally, value } of results) {
        expect({ endpoints, failures: tally.failures.slice(0, 5) }).toEqual({ endpoints, failures: [] });
        expect(tally.mayHaveApplied).toBe(0);
        expect(tally.ok).toBe(CALLS_PER_ORDER);
        // Nothing was applied twice behind the caller's back.
        expect(value).toBe(BigInt(tally.increments));
      }
    }, 150_000);
  }

  it('a member that comes back is used again, without a restart of the client', async () => {
    const toDead = await FaultProxy.start(dead.endpoint);
    const coord = await connect({
      endpoints: [toDead.endpoint, ...live],
      namespace: uniquePrefix('member-back'),
      ttlSeconds: 2,
    });
    try {
      expect((await mixedCalls(coord, 60)).failures).toEqual([]);
      await dead.restart();
      await etcd.cluster.waitHealthy();
      const before = toDead.bytesForwarded;
      // Back-off is at most 4 s; well within that plus a few hundred requests, the member gets its share.
      const t = performance.now();
      while (toDead.bytesForwarded - before < 20_000 && performance.now() - t < 15_000) {
        expect((await mixedCalls(coord, 30)).failures).toEqual([]);
      }
      expect(toDead.bytesForwarded - before).toBeGreaterThanOrEqual(20_000);
    } finally {
      await coord.close();
      await toDead.close();
    }
  }, 60_000);
});

describe('a request that reached etcd and lost its reply', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('counter.increment() through a reply-dropping proxy is mayHaveApplied and never applied twice', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const namespace = uniquePrefix('reply-drop');
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace,
      ttlSeconds: 2,
      requestTimeoutMs: 1000,
    });
    const direct = await connect({ endpoints: etcd.cluster.endpoints, namespace });
    try {
      let acknowledged = 0;
      for (let i = 0; i < 3; i++) {
        await coord.counter('c').increment();
        acknowledged++;
      }
      proxy.dropReplies();
      // Concurrent, so that all of them go out on the connection that was open when replies began to drop
      // (a new connection through this proxy never completes its handshake: requests on it are never sent).
      const errors = await Promise.all(
        Array.from({ length: 4 }, () =>
          coord
            .counter('c')
            .increment({ timeoutMs: 1000 })
            .then(
              () => undefined,
              (e: unknown) => e,
            ),
        ),
      );
      let unknown = 0;
      for (const err of errors) {
        expect(err).toBeInstanceOf(UnavailableError);
        expect((err as UnavailableError).mayHaveApplied).toBe(true);
        unknown++;
      }
      // Later requests never get a connection: reported as not applied, and indeed not applied.
      const late = await coord
        .counter('c')
        .increment({ timeoutMs: 500 })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(late).toBeInstanceOf(UnavailableError);
      if ((late as UnavailableError).mayHaveApplied) unknown++;
      const value = await direct.counter('c').get();
      expect(value).toBeGreaterThanOrEqual(BigInt(acknowledged));
      expect(value).toBeLessThanOrEqual(BigInt(acknowledged + unknown));
    } finally {
      proxy.pass();
      await Promise.all([coord.close(), direct.close()]);
      await proxy.close();
    }
  }, 60_000);
});
