/**
 * Model-based: any sequence of push (any priority), pop+ack and pop+nack on one consumer hands out jobs in
 * the model's order — highest priority first, then by push order — and a nacked job keeps its place.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type Queue } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

interface Model {
  /** Jobs in the queue: push sequence number and priority. */
  jobs: { seq: number; priority: number }[];
  nextSeq: number;
}
interface Real {
  q: Queue<number>;
}

const head = (m: Model) => [...m.jobs].sort((a, b) => b.priority - a.priority || a.seq - b.seq)[0];

class Push implements fc.AsyncCommand<Model, Real> {
  constructor(readonly priority: number) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const seq = m.nextSeq++;
    await r.q.push(seq, { priority: this.priority });
    m.jobs.push({ seq, priority: this.priority });
  }
  toString = () => `push(p=${this.priority})`;
}

class Pop implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ack: boolean) {}
  check = (m: Readonly<Model>) => m.jobs.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const expected = head(m)!;
    const job = await r.q.pop({ timeoutMs: 10_000 });
    expect(job.payload).toBe(expected.seq);
    expect(job.priority).toBe(expected.priority);
    if (this.ack) {
      await job.ack();
      m.jobs = m.jobs.filter((j) => j.seq !== expected.seq);
    } else {
      await job.nack();
    }
  }
  toString = () => (this.ack ? 'pop+ack' : 'pop+nack');
}

describe('queue order (model-based)', () => {
  const etcd = useSharedEtcd('queue-order');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('one consumer gets jobs by priority, then FIFO; a nacked job keeps its place', async () => {
    let run = 0;
    const commands = [
      fc.integer({ min: 0, max: 3 }).map((p) => new Push(p)),
      fc.boolean().map((ack) => new Pop(ack)),
    ];
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 25 }), async (cmds) => {
        const q = coord.queue<number>(`order-${run++}`, { maxAttempts: 1000 });
        try {
          await fc.asyncModelRun(() => ({ model: { jobs: [], nextSeq: 0 }, real: { q } }), cmds);
        } finally {
          await q.close();
        }
      }),
      { numRuns: 25 },
    );
  });
});
