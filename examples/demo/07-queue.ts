import type { Coordinator } from '../../src/index.js';

export const title = 'Work queue: priorities, FIFO, delays, nack, dead letters';

export async function run(coord: Coordinator, log: (line: string) => void): Promise<void> {
  const q = coord.queue<string>('demo-07', { maxAttempts: 2 });
  const dead = coord.queue<string>('demo-07.dead');
  try {
    await q.push('low 1');
    await q.push('low 2');
    await q.push('high', { priority: 5 });
    await q.push('delayed', { delayMs: 500 });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = await q.pop({ timeoutMs: 5000 });
      order.push(job.payload);
      await job.ack();
    }
    log(`pushed low 1, low 2, high (priority 5), delayed (500 ms) → popped ${order.join(', ')}`);
    const t = Date.now();
    const late = await q.pop({ timeoutMs: 5000 });
    log(`then "${late.payload}" after ${Date.now() - t} ms (a timer for the earliest due job, no polling)`);
    await late.ack();

    await q.push('fragile');
    const first = await q.pop({ timeoutMs: 5000 });
    log(`"${first.payload}" claimed, attempt ${first.attempt}; nack() → visible again at once`);
    await first.nack();
    const second = await q.pop({ timeoutMs: 5000 });
    log(
      `attempt ${second.attempt} (maxAttempts 2); nack() again → moved to the dead-letter queue in the same txn`,
    );
    await second.nack();
    const letter = await dead.pop({ timeoutMs: 5000 });
    log(
      `dead letter "${letter.payload}" from ${letter.deadLetter?.queue} #${letter.deadLetter?.id} after ${letter.deadLetter?.attempts} attempts`,
    );
    await letter.ack();
    log(
      `queue size ${await q.size()}, claims won ${q.stats.claimed}, wasted claim attempts ${q.stats.wasted}`,
    );
  } finally {
    await q.close();
    await dead.close();
    await coord.client.delete().prefix(coord.keyspace.key('queue/demo-07'));
  }
}
