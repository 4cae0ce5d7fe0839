/**
 * Issue 15 f3 with a real late apply: the first enqueue attempt sits in a *paused* member's socket buffer,
 * the retry wins on another member, the caller unlocks, and only then does the paused member resume and
 * apply the stalled txn (its `Create == 0` guard passes again: the key is absent). The ghost sweeper must
 * delete that key so another client can take the lock.
 *
 * The client reaches the cluster through a small relay (below) instead of the FaultProxy, because the
 * stalled request must stay in the paused member's buffer while the client fails over: the relay keeps its
 * connection to the paused member open, forwards nothing more to it (so the client's RST_STREAM on timeout
 * never arrives), and sends the client's new connections to another member. A FaultProxy would reset the
 * upstream socket, and a reset makes the kernel discard the unread request.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { GhostSweeper } from '../../src/core/ghost-sweeper.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

/** TCP relay: `freeze()` stops forwarding to the current upstream but keeps it open; `failOver()` redials. */
class StallRelay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #target: { host: string; port: number };
  #frozen = new Set<Socket>();
  readonly endpoint: string;

  private constructor(server: Server, target: string) {
    this.#server = server;
    this.#target = StallRelay.#parse(target);
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('expected a TCP address');
    this.endpoint = `127.0.0.1:${addr.port}`;
    server.on('connection', (client) => this.#accept(client));
  }

  static async start(target: string): Promise<StallRelay> {
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new StallRelay(server, target);
  }

  static #parse(t: string) {
    const at = t.lastIndexOf(':');
    return { host: t.slice(0, at), port: Number(t.slice(at + 1)) };
  }

  /** Nothing more reaches the current upstreams (requests already sent stay in their buffers). */
  freeze(): void {
    for (const s of this.#sockets) this.#frozen.add(s);
  }

  /** New connections go to `target`; current client connections are dropped (their upstreams stay open). */
  failOver(target: string): void {
    this.#target = StallRelay.#parse(target);
    for (const s of [...this.#sockets])
      if (this.#frozen.has(s)) (s as Socket & { peer?: Socket }).peer?.destroy();
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const upstream = createConnection({ ...this.#target, noDelay: true });
    (upstream as Socket & { peer?: Socket }).peer = client;
    this.#sockets.add(upstream);
    client.on('data', (d) => {
      if (!this.#frozen.has(upstream)) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!client.destroyed) client.write(d);
    });
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    // A client going away never closes a frozen upstream: the stalled request must not be reset.
    client.on('close', () => {
      if (!this.#frozen.has(upstream)) upstream.destroy();
    });
    upstream.on('close', () => {
      this.#sockets.delete(upstream);
      client.destroy();
    });
  }
}

describe('ghost key from an enqueue applied late by a paused member (3 members)', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  it('after unlock, the stalled first attempt re-creates the key; it is swept and another client acquires within 2 s', async () => {
    const ns = uniquePrefix('ghost-paused');
    const leader = await etcd.cluster.leader();
    const [a, b] = etcd.cluster.members.filter((m) => m !== leader);
    const relay = await StallRelay.start(a!.endpoint);
    const holder = await connect({
      endpoints: [relay.endpoint],
      namespace: ns,
      ttlSeconds: 10,
      requestTimeoutMs: 1000,
    });
    const other = await connect({ endpoints: [leader.endpoint], namespace: ns, ttlSeconds: 2 });
    const admin = etcd.cluster.client({ endpoints: [leader.endpoint] });
    const puts: bigint[] = [];
    const watcher = await admin.watch().prefix(`${ns}m/`).create();
    watcher.on('put', (kv) => puts.push(BigInt(kv.mod_revision)));
    try {
      await (await holder.mutex('m').lock()).unlock(); // the lock's shared watch is open and lingers

      a!.pause();
      const locking = holder.mutex('m').lock({ timeoutMs: 20_000 });
      await sleep(150); // the first enqueue attempt is in the paused member's socket buffer
      relay.freeze();
      relay.failOver(b!.endpoint); // the retry goes to a healthy member and wins there
      const lock = await locking;
      expect(GhostSweeper.of(holder).armedCount).toBe(1);
      await lock.unlock();
      const releasedAt = BigInt((await admin.get('x').exec()).header.revision);

      a!.resume(); // the stalled attempt is applied now
      await waitFor(() => puts.some((rev) => rev > releasedAt), {
        timeoutMs: 10_000,
        message: 'the stalled enqueue was applied after the unlock',
      });
      const next = await other.mutex('m').lock({ timeoutMs: 2000 });
      expect(holder.session.done).toBe(false); // freed by the sweeper, not by the lease
      await next.unlock();
    } finally {
      if (a!.paused) a!.resume();
      await watcher.cancel();
      await Promise.allSettled([holder.close(), other.close()]);
      await relay.close();
    }
  }, 90_000);
});
