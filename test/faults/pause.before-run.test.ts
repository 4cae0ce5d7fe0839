/**
 * Failure class 3 (time is not what you think), breaker finding "once() paused mid-call": a process that
 * stops (SIGSTOP, a blocked event loop, a long GC) right after its `running` record was written resumes
 * with the reply in hand and its timers not yet run. The session's loss timer has not fired, so the flag
 * says "alive" while the lease may be gone and another host may already run the job. `once()` must ask
 * the lease's monotonic deadline before it starts the job, not the flag.
 *
 * The pause is a synchronous block of this process's event loop (`Atomics.wait`) placed right after etcd
 * answered the `running` write: the same state as a SIGCONT after a SIGSTOP there, at an exact point.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, CoordError, once, runAsLeader, type Coordinator } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const TTL_SECONDS = 2;
const RUNNING = '"state":"running"';

/** Blocks this thread for `ms`: nothing else of this process runs meanwhile, timers included. */
function freeze(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** After etcd answers the first txn whose put matches `match` (key or value), freezes the process for `ms`. */
function freezeAfterWrite(coord: Coordinator, match: string, ms: number): void {
  const kv = coord.client.kv;
  const txn = kv.txn.bind(kv);
  let frozen = false;
  kv.txn = (async (...args: Parameters<typeof txn>) => {
    const res = await txn(...args);
    const put = args[0].success?.[0]?.request_put;
    const text = (b: unknown) => (b === undefined ? '' : Buffer.from(b as Uint8Array).toString());
    if (!frozen && (text(put?.key) + text(put?.value)).includes(match)) {
      frozen = true;
      freeze(ms);
    }
    return res;
  }) as typeof kv.txn;
}

describe('paused right after the write that makes this process the holder', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let coord: Coordinator | undefined;
  afterEach(async () => {
    await coord?.close();
    coord = undefined;
  });

  it('does not start the job when the lease deadline passed during the pause', async () => {
    coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('once-pause'),
      ttlSeconds: TTL_SECONDS,
    });
    await coord.currentSession();
    // Past the TTL: the server may have expired the lease, and another host may hold the slot.
    freezeAfterWrite(coord, RUNNING, TTL_SECONDS * 1000 + 500);
    let startedLate = false;
    const result = await once(coord, 'paused-job', { slot: 's1' }, () => {
      startedLate = true;
      return Promise.resolve('ran');
    }).catch((e: unknown) => e);
    expect(startedLate, 'the job started on a lease whose deadline had passed').toBe(false);
    expect(result).toBeInstanceOf(CoordError);
    expect(['SESSION_EXPIRED', 'LOCK_LOST']).toContain((result as CoordError).code);
  }, 20_000);

  it('negative control: without the pause the job runs', async () => {
    coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('once-pause'),
      ttlSeconds: TTL_SECONDS,
    });
    freezeAfterWrite(coord, RUNNING, 0);
    const result = await once(coord, 'paused-job', { slot: 's1' }, () => Promise.resolve('ran'));
    expect(result.status).toBe('ran');
  }, 20_000);

  it('mutex.withLock does not run fn when the lease deadline passed after the enqueue', async () => {
    coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('lock-pause'),
      ttlSeconds: TTL_SECONDS,
    });
    await coord.currentSession();
    freezeAfterWrite(coord, 'paused-lock/', TTL_SECONDS * 1000 + 500);
    let startedLate = false;
    const result = await coord
      .mutex('paused-lock')
      .withLock(() => {
        startedLate = true;
      })
      .catch((e: unknown) => e);
    expect(startedLate, 'fn ran under a lock whose lease deadline had passed').toBe(false);
    expect((result as CoordError).code).toBe('SESSION_EXPIRED');
  }, 20_000);

  it('runAsLeader does not run fn when the lease deadline passed after the campaign write', async () => {
    coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('leader-pause'),
      ttlSeconds: TTL_SECONDS,
    });
    await coord.currentSession();
    freezeAfterWrite(coord, 'paused-leader/', TTL_SECONDS * 1000 + 500);
    let startedLate = false;
    const result = await runAsLeader(coord, 'paused-leader', () => {
      startedLate = true;
      return Promise.resolve();
    }).catch((e: unknown) => e);
    expect(startedLate, 'fn ran as leader on a lease whose deadline had passed').toBe(false);
    expect(result).toBeInstanceOf(CoordError);
  }, 20_000);
});
