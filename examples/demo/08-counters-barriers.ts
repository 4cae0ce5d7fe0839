import type { Coordinator } from '../../src/index.js';

export const title = 'Counters (one put per increment; CAS) and barriers (hold/wait, enter/leave)';

export async function run(coord: Coordinator, log: (line: string) => void): Promise<void> {
  const base = 'demo-08/';
  try {
    const ids = coord.counter(`${base}ids`);
    const got = await Promise.all(Array.from({ length: 8 }, () => ids.increment()));
    log(
      `8 concurrent increment() calls → ${got.sort((a, b) => Number(a - b)).join(', ')} (one put each, no retry)`,
    );

    const stock = coord.atomicCounter(`${base}stock`);
    log(`atomicCounter: add(10) → ${await stock.add(10)}, decrement(3) → ${await stock.decrement(3)}`);
    log(
      `compareAndSet(7n, 100n) → ${await stock.compareAndSet(7n, 100n)}, compareAndSet(7n, 1n) → ${await stock.compareAndSet(7n, 1n)}`,
    );
    await stock.add(1.5).catch((err: Error) => log(`add(1.5) refused before any request: ${err.message}`));

    const gate = coord.barrier(`${base}gate`);
    log(`barrier hold() → ${await gate.hold()}, again → ${await gate.hold()}`);
    const waiting = gate.wait({ timeoutMs: 10_000 }).then(() => log('waiter passed the barrier'));
    log('releasing the barrier…');
    await gate.release();
    await waiting;

    const sessions = await Promise.all([0, 1, 2].map(() => coord.newSession({ ttlSeconds: 5 })));
    try {
      const order: string[] = [];
      await Promise.all(
        sessions.map(async (session, i) => {
          const b = coord.doubleBarrier(`${base}phase`, 3, { session });
          await new Promise((r) => setTimeout(r, i * 150));
          order.push(`p${i} arrives`);
          await b.enter({ timeoutMs: 10_000 });
          order.push(`p${i} entered`);
          await new Promise((r) => setTimeout(r, (2 - i) * 150));
          order.push(`p${i} leaves`);
          await b.leave({ timeoutMs: 10_000 });
          order.push(`p${i} left`);
        }),
      );
      log(`double barrier of 3: ${order.join(' → ')}`);
    } finally {
      await Promise.all(sessions.map((s) => s.close()));
    }
  } finally {
    const { key, end } = coord.keyspace.prefixRange(base);
    await coord.client.kv.deleteRange({ key, range_end: end });
  }
}
