/**
 * Issue 24: a run stopped by its own caller (the host shutting down: the CLI's SIGTERM aborts the
 * `signal` given to once()) is *interrupted*, not *failed*: the record says so and another host runs the
 * slot, even with `onCrash: 'fail'` (the job was told to stop and stopped; it did not crash).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('once(): a run interrupted by its caller', () => {
  const etcd = useSharedEtcd('once-interrupted');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  /** Host A starts the job, which stops when told (its caller's signal aborts mid-run). */
  async function interruptedRun(slot: string): Promise<unknown> {
    const a = await coord();
    const shutdown = new AbortController();
    return once(a, 'job', { slot, signal: shutdown.signal }, async (signal) => {
      shutdown.abort('SIGTERM');
      if (!signal.aborted)
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      throw new Error('stopped for shutdown');
    }).catch((e: unknown) => e);
  }

  for (const onCrash of ['rerun', 'fail'] as const) {
    it(`the record says interrupted; the next host runs it (onCrash: '${onCrash}')`, async () => {
      const slot = `s-${onCrash}`;
      const err = await interruptedRun(slot);
      expect((err as Error).message).toBe('stopped for shutdown');
      const raw = await etcd.admin.get(`${etcd.prefix}once/job/${slot}/record`).string();
      const record = JSON.parse(raw ?? '{}') as { state: string; outcome: string; attempts: unknown[] };
      expect(record).toMatchObject({ state: 'interrupted', outcome: 'interrupted' });

      const b = await coord();
      let ran = 0;
      const r = await once(b, 'job', { slot, onCrash }, async () => {
        ran++;
      });
      expect(ran).toBe(1);
      expect(r.status).toBe('ran');
      expect(r.record.state).toBe('done');
      expect(r.record.attempts.map((a) => a.outcome)).toEqual(['interrupted', 'ok']);
    });
  }

  it('a job that fails on its own (no shutdown) still fails the slot for everyone', async () => {
    const a = await coord();
    await once(a, 'job', { slot: 'own-error' }, async () => {
      throw new Error('boom');
    }).catch(() => undefined);
    const b = await coord();
    const r = await once(b, 'job', { slot: 'own-error' }, async () => undefined);
    expect(r.status).toBe('failed');
    expect(r.record.outcome).toBe('error');
  });
});
