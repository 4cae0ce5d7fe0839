/**
 * Model-based: any sequence of push and pushMany (any priority), remove, peek, pop+ack and pop+nack on one
 * consumer hands out jobs in the model's order — highest priority first, then by push order (a batch in
 * array order) — a nacked job keeps its place, and peek always shows the model's head.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type Queue } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

interface Model {
  /** Jobs in the queue: push sequence number, priority and id. */
  jobs: { seq: number; priority: number; id: string }[];
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
    const id = await r.q.push(seq, { priority: this.priority });
    m.jobs.push({ seq, priority: this.priority, id });
  }
  toString = () => `push(p=${this.priority})`;
}

class PushMany implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly priority: number,
    readonly n: number,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const seqs = Array.from({ length: this.n }, () => m.nextSeq++);
    const ids = await r.q.pushMany(seqs, { priority: this.priority });
    seqs.forEach((seq, i) => m.jobs.push({ seq, priority: this.priority, id: ids[i]! }));
  }
  toString = () => `pushMany(p=${this.priority}, n=${this.n})`;
}

/** Removes the k-th job of the model (mod its size): true, and it is never handed out. */
class Remove implements fc.AsyncCommand<Model, Real> {
  constructor(readonly k: number) {}
  check = (m: Readonly<Model>) => m.jobs.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const victim = m.jobs[this.k % m.jobs.length]!;
    expect(await r.q.remove(victim.id)).toBe(true);
    m.jobs = m.jobs.filter((j) => j.seq !== victim.seq);
  }
  toString = () => `remove(${this.k})`;
}

class Peek implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const seen = await r.q.peek();
    expect(seen?.payload ?? null).toBe(head(m)?.seq ?? null);
  }
  toString = () => 'peek';
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

  it('one consumer gets jobs by priority, then FIFO (batches in array order); removed jobs never come; a nacked job keeps its place; peek shows the head', async () => {
    let run = 0;
    const commands = [
      fc.integer({ min: 0, max: 3 }).map((p) => new Push(p)),
      fc
        .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 5 }))
        .map(([p, n]) => new PushMany(p, n)),
      fc.nat().map((k) => new Remove(k)),
      fc.constant(new Peek()),
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
