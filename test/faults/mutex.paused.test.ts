/**
 * The Jepsen lock-set case: 4 worker processes increment one etcd key under the mutex (TTL 2 s) while
 * holders are SIGSTOPped for 3–5 s between their read and their write. Guarded by `lock.guard()`, no
 * increment is lost; the unguarded control run loses increments, proving the test can see the failure.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { spawnNode, uniquePrefix, usePrivateEtcd, type ChildHandle } from '../support/shared.js';

const WORKERS = 4;
const PAUSES = 3;

describe('mutex with paused holders (Jepsen lock-set)', () => {
  const etcd = usePrivateEtcd({ members: 1 });

  async function runScenario(
    mode: 'guarded' | 'unguarded',
  ): Promise<{ final: number; acks: number; maybes: number; refused: number }> {
    const prefix = uniquePrefix(`paused-${mode}`);
    const env = { ETCD_ENDPOINTS: etcd.cluster.endpoints.join(',') };
    const workers: ChildHandle[] = Array.from({ length: WORKERS }, () =>
      spawnNode('test/workers/lock-increment.ts', [prefix, 'lock', 'counter', mode], { env }),
    );
    try {
      await Promise.all(workers.map((w) => w.waitForLine(/^ready/, 30_000)));
      for (let p = 0; p < PAUSES; p++) {
        // Pause a holder between its read and its write: its lease expires and another worker takes over.
        const seen = workers.map((w) => w.output.length);
        let victim: ChildHandle | undefined;
        for (let tries = 0; !victim && tries < 200; tries++) {
          await sleep(20);
          victim = workers.find((w, i) => w.output.slice(seen[i]).some((l) => l.startsWith('read ')));
        }
        if (!victim) throw new Error('no worker reached its read');
        victim.pause();
        await sleep(3000 + Math.random() * 2000);
        victim.resume();
        await sleep(1500);
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    const lines = workers.flatMap((w) => w.output);
    const acks = lines.filter((l) => l.startsWith('ack ')).length;
    const maybes = lines.filter((l) => l === 'maybe').length;
    const refused = lines.filter((l) => l === 'refused').length;
    const client = etcd.cluster.client();
    const final = Number((await client.get(`${prefix}counter`).string()) ?? '0');
    await client.delete().prefix(prefix);
    return { final, acks, maybes, refused };
  }

  it('guarded writes: no increment is lost (final value = acknowledged increments)', async () => {
    const { final, acks, maybes, refused } = await runScenario('guarded');
    expect(acks).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(0); // resumed holders did try to write, and the guard refused them
    expect(maybes).toBe(0);
    expect(final).toBe(acks);
  }, 90_000);

  it('control run with unguarded writes loses increments', async () => {
    const { final, acks } = await runScenario('unguarded');
    expect(acks).toBeGreaterThan(10);
    expect(final).toBeLessThan(acks);
  }, 90_000);
});
