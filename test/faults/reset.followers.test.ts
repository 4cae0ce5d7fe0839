/**
 * Issue 16 f2: etcd restarted with an empty data dir. Revisions start over, so every follower must notice
 * that the store is not the history it delivered and re-read — also when the new store is already *ahead*
 * of the old revisions by the time the followers reconnect (then revision order alone cannot tell).
 *
 * Acceptance: once the store is reachable (the proxy passes again), config, discovery, observe(), the queue
 * view (a pop) and a barrier wait equal a direct read within 2 s, in 20 of 20 runs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { connect, type Coordinator, type LeaderInfo } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

const RUNS = Number(process.env.RESET_RUNS ?? 20);
/** The acceptance bound, from the moment the new store is reachable. */
const WITHIN_MS = 2000;

describe('followers after etcd restarted with an empty data dir (issue 16)', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  const lockOutcomes: string[] = [];

  async function scenario(run: number, ahead: boolean): Promise<number> {
    const ns = uniquePrefix(`reset${run}`);
    const endpoint = etcd.cluster.endpoints[0]!;
    const proxy = await FaultProxy.start(endpoint);
    const coord = await connect({ endpoints: [proxy.endpoint], namespace: ns, ttlSeconds: 2 });
    let old: Coordinator | undefined = await connect({ endpoints: [endpoint], namespace: ns, ttlSeconds: 2 });
    let fresh: Coordinator | undefined;
    const raw = new Etcd3({ hosts: [`http://${endpoint}`] });
    const ac = new AbortController();
    try {
      // The old history: config, one registered instance, a leader, a queue seen by a consumer, a held barrier.
      await raw.put(`${ns}cfg/a`).value('1');
      const cfg = await coord.config('cfg/');
      const resets: string[] = [];
      cfg.on('reset', () => resets.push('config'));
      await old.registry('svc').register({ id: 'old', address: '10.0.0.1:1' });
      const svc = await coord.discovery('svc');
      svc.on('reset', () => resets.push('discovery'));
      await old.election('el').campaign('A');
      const seen: (LeaderInfo | null)[] = [];
      const observing = (async () => {
        for await (const l of coord.election('el').observe({ signal: ac.signal })) seen.push(l);
      })();
      const queue = coord.queue<string>('q');
      await old.queue<string>('q').push('before');
      const first = await queue.pop({ timeoutMs: 5000 });
      await first.ack();
      // Held on the old store through the followed coordinator: lost with it.
      const held = await coord.mutex('held').lock();
      const term = await coord.election('term').campaign('T');
      // A lock wait through the hub, behind a holder of the old store.
      await old.mutex('wait').lock();
      const lockWait = coord
        .mutex('wait')
        .lock({ signal: ac.signal })
        .then(
          (l) => ({ outcome: 'acquired', lock: l }),
          (err: unknown) => ({ outcome: `rejected ${(err as { code?: string }).code}`, lock: undefined }),
        );
      await old.barrier('gate').hold();
      const barrierWait = coord.barrier('gate').wait({ signal: ac.signal });
      barrierWait.catch(() => undefined);
      // Revisions the new store will either stay behind or be well ahead of.
      for (let i = 0; i < 20; i++) await raw.put(`${ns}pad/${i}`).value('x');
      await waitFor(() => cfg.value.a === 1 && svc.size === 1 && seen.at(-1)?.value.toString() === 'A');
      const oldRevision = await etcd.cluster.currentRevision();

      // The store loses everything; the followers are cut off until the new store is ready.
      proxy.blackhole();
      await old.close().catch(() => undefined);
      old = undefined;
      await etcd.cluster.members[0]!.restart({ wipeData: true });

      fresh = await connect({ endpoints: [endpoint], namespace: ns, ttlSeconds: 2 });
      if (ahead) {
        const writes = Number(oldRevision) + 20;
        for (let i = 0; i < writes; i += 50) {
          await Promise.all(
            Array.from({ length: Math.min(50, writes - i) }, (_, j) =>
              raw.put(`${ns}pad/n${i + j}`).value('y'),
            ),
          );
        }
        expect(await etcd.cluster.currentRevision()).toBeGreaterThan(oldRevision);
      }
      await raw.put(`${ns}cfg/a`).value('2');
      await fresh.registry('svc').register({ id: 'new', address: '10.0.0.2:2' });
      await fresh.election('el').campaign('B');
      await fresh.queue<string>('q').push('after');

      // The store is reachable from here on.
      proxy.pass();
      const t0 = performance.now();
      const direct = fresh;
      const popped = queue.pop({ timeoutMs: WITHIN_MS + 3000 });
      popped.catch(() => undefined);
      await waitFor(
        async () => {
          const leader = await direct.election('el').leader();
          const ids = (await direct.discovery('svc').then(async (d) => {
            const list = d.instances().map((i) => i.id);
            await d.close();
            return list;
          })) as string[];
          return (
            cfg.value.a === 2 &&
            svc
              .instances()
              .map((i) => i.id)
              .join() === ids.join() &&
            seen.at(-1)?.key === leader?.key
          );
        },
        {
          timeoutMs: WITHIN_MS + 1000,
          intervalMs: 20,
          message: 'config, discovery and observe equal a direct read',
        },
      );
      const job = await popped;
      expect(job.payload).toBe('after');
      await job.ack();
      await barrierWait;
      await waitFor(() => held.signal.aborted && term.signal.aborted, {
        timeoutMs: WITHIN_MS,
        message: 'a lock and a term held on the old store are lost',
      });
      // The waiter's own key went with the old store: it must settle (acquire on the new one, or fail).
      const waited = await Promise.race([
        lockWait,
        sleep(WITHIN_MS).then(() => ({ outcome: 'pending', lock: undefined })),
      ]);
      lockOutcomes.push(waited.outcome);
      await waited.lock?.unlock();
      const elapsed = performance.now() - t0;
      expect(resets).toEqual(expect.arrayContaining(['config', 'discovery']));
      expect(coord.watchHub.resets).toBeGreaterThanOrEqual(1);
      expect(elapsed).toBeLessThanOrEqual(WITHIN_MS);
      ac.abort();
      await observing;
      return elapsed;
    } finally {
      ac.abort();
      await coord.close();
      await old?.close().catch(() => undefined);
      await fresh?.close();
      raw.close();
      await proxy.close();
    }
  }

  it('a lock and a term held on the old store are lost at once, not when a long TTL runs out', async () => {
    const ns = uniquePrefix('reset-held');
    const coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 30 });
    try {
      const lock = await coord.mutex('m').lock();
      const term = await coord.election('e').campaign('v');
      await etcd.cluster.members[0]!.restart({ wipeData: true });
      await waitFor(() => lock.signal.aborted && term.signal.aborted, {
        timeoutMs: WITHIN_MS,
        message: 'lock and term signals abort after the reset',
      });
    } finally {
      await coord.close();
    }
  });

  it(
    `every follower equals a direct read within ${WITHIN_MS} ms, new store behind or ahead (${RUNS} runs)`,
    async () => {
      const times: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const ahead =
          process.env.RESET_MODE === undefined ? run % 2 === 1 : process.env.RESET_MODE === 'ahead';
        times.push(await scenario(run, ahead));
        await sleep(10);
      }
      console.log(`reset runs: ms to converge ${times.map((t) => t.toFixed(0)).join(' ')}`);
      console.log(`lock wait across the reset: ${lockOutcomes.join(', ')}`);
      expect(times).toHaveLength(RUNS);
      expect(lockOutcomes.filter((o) => o === 'pending')).toEqual([]);
    },
    RUNS * 30_000,
  );
});
