/**
 * Breaker finding (session 3, failure class 3): `once()` whose job blocks the whole process past its lease's TTL, then
 * returns. Contract: the job runs at most once per (job, slot) except in the one documented window (lease
 * lost after fn returned, before the record: once() rejects LockLostError). So: if once() resolved
 * `ran`, every later once() of that slot must skip; and "@throws LockLostError when the slot was lost
 * mid-run and the outcome could not be recorded" — a rejection must not come with a recorded outcome.
 *
 * Observed: failed 2 of 2 runs (round 0 each time): once() rejected "write record (done): the slot's session
 * ended before the record was written" while the record read by the next caller was `state: "done",
 * outcome: "ok"` (it skipped). Guess: once-record.ts sends the done txn with `signal: alive`; the session's
 * loss timer fires right after the resume, aborting a write already sent (and applied), and the catch maps
 * `alive.aborted` to "not written".
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type Coordinator } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

function block(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('once() whose process is paused inside the job past its TTL', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close().catch(() => undefined);
  });

  it('ran ⇒ later callers skip; rejected ⇒ LockLostError and nothing recorded', async () => {
    const namespace = uniquePrefix('once-paused-job');
    const a: Coordinator = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace,
      ttlSeconds: 2,
    });
    open.push(a);
    const b: Coordinator = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace,
      ttlSeconds: 2,
    });
    open.push(b);
    const outcomes: string[] = [];
    for (let round = 0; round < 3; round++) {
      const slot = `s${round}`;
      const ra = await once(a, 'job', { slot }, async () => {
        block(4500);
        return 1;
      }).then(
        (r) => r.status,
        (e: unknown) => {
          return (e as Error).name;
        },
      );
      let ranB = false;
      const rb = await once(b, 'job', { slot, timeoutMs: 10_000 }, async () => {
        ranB = true;
        return 2;
      }).then(
        (r) => {
          return r.status;
        },
        (e: unknown) => (e as Error).name,
      );
      outcomes.push(`${ra}/${rb}`);
      if (ra === 'ran') expect({ round, ranB }).toEqual({ round, ranB: false });
      else {
        // "LockLostError when the slot was lost mid-run and the outcome could not be recorded": then the
        // next host runs the job again — it must not find the outcome recorded as done.
        expect(ra).toBe('LockLostError');
        expect({ round, b: rb }).not.toEqual({ round, b: 'skipped' });
      }
    }
  }, 60_000);
});
