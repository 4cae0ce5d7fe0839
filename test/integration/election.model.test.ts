/**
 * Model-based test (fast-check): random campaigns, resignations and lease revocations by three candidates
 * against a FIFO-queue model. Invariants: the leader is always the oldest live candidate; at most one
 * candidate holds a live term; a candidate removed before its turn is never told it won; observe() never
 * goes back to an older leader and ends on the model's leader.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type LeaderInfo, type Session, type Term } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

interface Candidate {
  session?: Session | undefined;
  term?: Term | undefined;
  error?: unknown;
  done?: Promise<unknown> | undefined;
}
interface Model {
  queue: number[];
}
interface Real {
  coord: Coordinator;
  name: string;
  candidates: Candidate[];
  everElected: Set<Candidate>;
}

async function settle(m: Model, r: Real): Promise<void> {
  const head = m.queue[0];
  if (head !== undefined) {
    await waitFor(() => r.candidates[head]!.term, { message: `candidate ${head} elected` });
  }
  await waitFor(() => r.candidates.filter((c) => c.term && !c.term.signal.aborted).length <= 1);
  for (const [i, c] of r.candidates.entries()) {
    if (i !== head && !m.queue.includes(i)) expect(c.term === undefined || c.term.signal.aborted).toBe(true);
    if (i !== head && m.queue.includes(i)) expect(c.term).toBeUndefined();
  }
  const leader = await r.coord.election(r.name).leader();
  expect(leader?.value.toString() ?? null).toBe(head === undefined ? null : `c${head}`);
}

class CampaignCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly i: number) {}
  check = (m: Readonly<Model>) => !m.queue.includes(this.i);
  async run(m: Model, r: Real): Promise<void> {
    const c: Candidate = { session: await r.coord.newSession({ ttlSeconds: 5 }) };
    r.candidates[this.i] = c;
    c.done = r.coord
      .election(r.name, { session: c.session })
      .campaign(`c${this.i}`)
      .then(
        (t) => {
          c.term = t;
          r.everElected.add(c);
        },
        (err: unknown) => (c.error = err),
      );
    m.queue.push(this.i);
    await waitFor(
      async () =>
        (await r.coord.client
          .getAll()
          .prefix(r.coord.keyspace.key(`${r.name}/`))
          .count()) === m.queue.length,
    );
    await settle(m, r);
  }
  toString = () => `campaign(${this.i})`;
}

class ResignCmd implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.queue.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const head = m.queue.shift()!;
    const c = r.candidates[head]!;
    await c.term!.resign();
    await c.session!.close();
    await settle(m, r);
  }
  toString = () => 'resign(leader)';
}

class RevokeCmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pos: number) {}
  check = (m: Readonly<Model>) => m.queue.length > 0;
  async run(m: Model, r: Real): Promise<void> {
    const [i] = m.queue.splice(this.pos % m.queue.length, 1);
    const c = r.candidates[i!]!;
    await c.session!.close(); // revokes the lease: its key goes
    await c.done;
    if (c.term) await waitFor(() => c.term!.signal.aborted, { message: 'revoked term aborts' });
    else expect(c.error).toBeDefined();
    await settle(m, r);
  }
  toString = () => `revoke(queue[${this.pos}])`;
}

describe('election model', () => {
  const etcd = useSharedEtcd('election-model');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('the leader is always the oldest live candidate; removed candidates never win; observe is monotonic', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.commands(
          [
            fc.integer({ min: 0, max: 2 }).map((i) => new CampaignCmd(i)),
            fc.constant(new ResignCmd()),
            fc.integer({ min: 0, max: 2 }).map((p) => new RevokeCmd(p)),
          ],
          { maxCommands: 10 },
        ),
        async (cmds) => {
          const name = `m${run++}`;
          const real: Real = { coord, name, candidates: [{}, {}, {}], everElected: new Set() };
          const seen: (LeaderInfo | null)[] = [];
          const ac = new AbortController();
          const observing = (async () => {
            for await (const l of coord.election(name).observe({ signal: ac.signal })) seen.push(l);
          })();
          const model: Model = { queue: [] };
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds);
            const head = model.queue[0];
            await waitFor(
              () => (seen.at(-1)?.value.toString() ?? null) === (head === undefined ? null : `c${head}`),
              {
                message: 'observe ends on the model leader',
              },
            );
            let newest = 0n;
            for (const l of seen) {
              if (!l) continue;
              expect(l.revision).toBeGreaterThanOrEqual(newest);
              newest = l.revision;
            }
          } finally {
            ac.abort();
            await observing;
            await Promise.all(real.candidates.map((c) => c.session?.close()));
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
