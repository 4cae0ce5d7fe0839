/**
 * Breaker F4: the slot key of a running once() is deleted by someone else (an operator's `etcdctl del`)
 * while the runner's session stays alive. A re-run happens only when the runner's session is lost before
 * the done record is written: the next holder waits for the running attempt's lease, and the runner still
 * records its outcome while its attempt is the record's latest.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('once(): slot key deleted mid-run, session alive', () => {
  const etcd = useSharedEtcd('once-key-deleted');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  for (const where of ['another process (coordinator)', 'the same coordinator'] as const) {
    it(`a caller waiting on ${where} does not run the job a second time`, async () => {
      const a = await coord();
      const b = where === 'the same coordinator' ? a : await coord();
      const slot = where === 'the same coordinator' ? 'same' : 'other';
      const log: string[] = [];
      const t0 = Date.now();
      let runs = 0;
      const ra = once(a, 'kdel', { slot, host: 'a' }, async (signal) => {
        runs++;
        log.push(`a start ${Date.now() - t0}`);
        // A job that finishes its current step (600 ms) before looking at the signal.
        await sleep(600);
        log.push(`a end ${Date.now() - t0} aborted=${signal.aborted}`);
        return 'a';
      }).then(
        (r) => r.status,
        (err: Error) => err.name,
      );
      await waitFor(() => runs === 1);
      const rb = once(b, 'kdel', { slot, host: 'b', timeoutMs: 10_000 }, async () => {
        runs++;
        log.push(`b start ${Date.now() - t0}`);
        return 'b';
      }).then(
        (r) => r.status,
        (err: Error) => err.name,
      );
      await sleep(150);
      const prefix = `${etcd.prefix}once/kdel/${slot}/lock/`;
      const keys = await etcd.admin.getAll().prefix(prefix).keys();
      expect(keys.length).toBeGreaterThanOrEqual(1);
      // The oldest one is A's (B may not have a key yet when queued in process).
      const byRev = await etcd.admin.getAll().prefix(prefix).sort('Create', 'Ascend').keys();
      await etcd.admin.delete().key(byRev[0]!);
      log.push(`a's slot key deleted ${Date.now() - t0}`);
      const results = [await ra, await rb];
      log.push(`results ${results.join(',')}`);
      log.push(`record ${await etcd.admin.get(`${etcd.prefix}once/kdel/${slot}/record`).string()}`);
      expect(a.session.done).toBe(false);
      expect(runs, log.join('\n')).toBe(1);
      expect(results, log.join('\n')).toEqual(['ran', 'skipped']);
    });
  }
});
