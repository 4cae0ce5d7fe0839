/**
 * Issue 14 f3: a short connection blip right as a once() job returns must not make another host run the
 * job again. The runner records "done" before it releases the slot, retrying the (guarded, idempotent)
 * write for as long as its session lives; only a session lost before the record is written lets another
 * host re-run the job — the documented at-least-once window.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('once() under a blip as the job returns', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f().catch(() => undefined);
  });

  const arrange = async (runnerTtl: number) => {
    const endpoint = etcd.cluster.endpoints[0]!;
    const prefix = uniquePrefix('once-blip');
    const proxy = await FaultProxy.start(endpoint);
    const runner = await connect({
      endpoints: [proxy.endpoint],
      namespace: prefix,
      ttlSeconds: runnerTtl,
      requestTimeoutMs: 1000,
    });
    const other = await connect({ endpoints: [endpoint], namespace: prefix, ttlSeconds: 2 });
    cleanup.push(
      () => proxy.close(),
      () => other.close(),
      () => runner.close(),
      async () => proxy.pass(),
    );
    return { proxy, runner, other, prefix };
  };

  /** Runs the job on `runner` (the fault begins as fn returns) with a second host queued behind it. */
  const race = async (
    runner: Coordinator,
    other: Coordinator,
    prefix: string,
    onReturn: () => void,
    slot: string,
  ) => {
    let runs = 0;
    const first = once(runner, 'report', { slot }, async () => {
      runs++;
      await sleep(500);
      onReturn();
      return 'runner';
    });
    first.catch(() => undefined);
    await waitFor(async () => (await other.client.get(`${prefix}once/report/${slot}/record`)) !== null);
    const second = once(other, 'report', { slot }, async () => {
      runs++;
      return 'other';
    });
    return { first, second, runs: () => runs, prefix };
  };

  it('a 300 ms blackhole as fn returns: the run is recorded done, the queued host skips', async () => {
    const { proxy, runner, other, prefix } = await arrange(5);
    const r = await race(
      runner,
      other,
      prefix,
      () => {
        proxy.blackhole();
        setTimeout(() => proxy.pass(), 300);
      },
      's1',
    );
    await expect(r.first).resolves.toMatchObject({ status: 'ran', value: 'runner' });
    await expect(r.second).resolves.toMatchObject({ status: 'skipped' });
    expect(r.runs()).toBe(1);
  });

  it('300 ms of dropped replies as fn returns: the run is recorded done, the queued host skips', async () => {
    const { proxy, runner, other, prefix } = await arrange(5);
    const r = await race(
      runner,
      other,
      prefix,
      () => {
        proxy.dropReplies();
        setTimeout(() => proxy.pass(), 300);
      },
      's2',
    );
    await expect(r.first).resolves.toMatchObject({ status: 'ran', value: 'runner' });
    await expect(r.second).resolves.toMatchObject({ status: 'skipped' });
    expect(r.runs()).toBe(1);
  });

  it('the runner cut off until its session is lost: it reports the outcome unrecorded, and the next host re-runs (the at-least-once window)', async () => {
    const { proxy, runner, other, prefix } = await arrange(2);
    const r = await race(runner, other, prefix, () => proxy.blackhole(), 's3');
    await expect(r.first).rejects.toMatchObject({ code: expect.stringMatching(/LOCK_LOST|SESSION_EXPIRED/) });
    const second = await r.second;
    expect(second).toMatchObject({ status: 'ran', value: 'other' });
    expect(second.record.attempts.map((a) => a.outcome)).toEqual(['crashed', 'ok']);
    expect(r.runs()).toBe(2);
  });
});
