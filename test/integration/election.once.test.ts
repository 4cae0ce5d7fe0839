/**
 * Acceptance 5: once() across host *processes* (test/workers/election-once.ts): exactly one execution per
 * slot, late arrivals skip, a holder killed mid-run is re-run after its lease expires (record lists both
 * attempts) or the slot is marked failed with `onCrash: 'fail'`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type OnceRecord } from '../../src/index.js';
import { spawnNode, useSharedEtcd, waitFor, type ChildHandle } from '../support/shared.js';

const WORKER = 'test/workers/election-once.ts';

describe('once(): exactly one execution per slot', () => {
  const etcd = useSharedEtcd('election-once');
  const workers: ChildHandle[] = [];
  // TTL 2 s where a crash must be noticed quickly; 5 s where 8 hosts start at once on a loaded machine.
  const host = (job: string, slot: string, jobMs: number, onCrash = 'rerun', ttl = 2): ChildHandle => {
    const w = spawnNode(WORKER, [job, slot, String(jobMs), onCrash], {
      env: { ETCD_ENDPOINTS: etcd.endpoints.join(','), COORD_NAMESPACE: etcd.prefix, COORD_TTL: String(ttl) },
    });
    workers.push(w);
    return w;
  };
  const resultOf = async (w: ChildHandle): Promise<{ status: string; record: OnceRecord }> => {
    const line = await w.waitForLine(/^result /, 45_000);
    const [, status, ...json] = line.split(' ');
    return { status: status!, record: JSON.parse(json.join(' ')) as OnceRecord };
  };
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  });

  it('8 hosts start the same slot at slightly different times, one after the run finished: one execution', async () => {
    const first = [];
    for (let i = 0; i < 7; i++) {
      first.push(host('report', '2026-11-21', 1500, 'rerun', 5));
      await sleep(60);
    }
    const results = await Promise.all(first.map(resultOf));
    const late = host('report', '2026-11-21', 1500, 'rerun', 5);
    const lateResult = await resultOf(late);
    const all = [...results, lateResult];
    expect(all.filter((r) => r.status === 'ran')).toHaveLength(1);
    expect(all.filter((r) => r.status === 'skipped')).toHaveLength(7);
    expect(lateResult.status).toBe('skipped');
    const execs = await etcd.admin.getAll().prefix(`${etcd.prefix}exec/report/`).keys();
    expect(execs).toHaveLength(1);
    const record = lateResult.record;
    expect(record).toMatchObject({ job: 'report', slot: '2026-11-21', state: 'done', outcome: 'ok' });
    expect(record.attempts).toHaveLength(1);
    expect(record.end).toBeTypeOf('string');
  });

  it('kill -9 of the runner mid-job: another host runs it after the lease expires; the record shows both attempts', async () => {
    const a = host('compact', 's1', 60_000);
    const line = await a.waitForLine(/^running /, 20_000);
    const b = host('compact', 's1', 300);
    await sleep(300);
    a.kill('SIGKILL');
    const r = await resultOf(b);
    expect(r.status).toBe('ran');
    expect(r.record.attempts).toHaveLength(2);
    expect(r.record.attempts[0]).toMatchObject({ pid: Number(line.split(' ')[1]), outcome: 'crashed' });
    expect(r.record.attempts[1]).toMatchObject({ pid: Number(b.pid), outcome: 'ok' });
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}exec/compact/`).keys()).toHaveLength(2);
  });

  it("onCrash: 'fail' marks the slot failed instead of running it again", async () => {
    const a = host('strict', 's1', 60_000, 'fail');
    await a.waitForLine(/^running /, 20_000);
    a.kill('SIGKILL');
    const b = host('strict', 's1', 300, 'fail');
    const r = await resultOf(b);
    expect(r.status).toBe('failed');
    expect(r.record).toMatchObject({ state: 'failed', outcome: 'crashed' });
    expect(r.record.attempts).toHaveLength(1);
  });

  it('a job that throws is recorded as an error: it is not run again and others get failed', async () => {
    const coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    try {
      await expect(
        once(coord, 'boom', { slot: 'x' }, () => Promise.reject(new Error('disk full'))),
      ).rejects.toThrow('disk full');
      let ran = false;
      const again = await once(coord, 'boom', { slot: 'x' }, async () => {
        ran = true;
      });
      expect(ran).toBe(false);
      expect(again.status).toBe('failed');
      expect(again.record.attempts[0]).toMatchObject({ outcome: 'error', error: 'disk full' });
      const other = await once(coord, 'boom', { slot: 'y' }, async (_signal, slot) => {
        expect(slot.attempt).toBe(1);
        expect(slot.key).toMatch(/^once\/boom\/y\/lock\/[0-9a-f]+$/);
        // The guard lets the job write to etcd only while it holds the slot.
        const res = await coord.client.kv.txn({
          compare: [slot.guard],
          success: [
            {
              request_put: {
                key: coord.keyspace.key('boom-output'),
                value: Buffer.from(String(slot.fencingToken)),
              },
            },
          ],
          failure: [],
        });
        expect(res.succeeded).toBe(true);
        return 42;
      });
      expect(other).toMatchObject({ status: 'ran', value: 42 });
    } finally {
      await coord.close();
    }
  });
  it('a queued host whose lease is revoked stands again and then skips the finished slot', async () => {
    const [a, b] = await Promise.all(
      [1, 2].map(() => connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 })),
    );
    try {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const first = once(a!, 'gate', { slot: 's' }, () => gate.then(() => 'a'));
      await waitFor(
        async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}once/gate/s/lock/`).count()) === 1,
      );
      const second = once(b!, 'gate', { slot: 's' }, async () => 'b');
      await waitFor(
        async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}once/gate/s/lock/`).count()) === 2,
      );
      const lost = b!.session;
      await etcd.admin.leaseClient.leaseRevoke({ ID: lost.leaseId.toString() });
      await waitFor(() => lost.done);
      // b stands again under a new lease.
      await waitFor(
        async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}once/gate/s/lock/`).count()) === 2,
      );
      release();
      expect(await first).toMatchObject({ status: 'ran', value: 'a' });
      expect(await second).toMatchObject({ status: 'skipped' });
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });
});
