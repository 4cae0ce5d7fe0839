/**
 * Breaker F1/F2: callers of one election on one coordinator (one session, so one key name) after the
 * leader key is deleted by an operator (etcdctl del). F1: two runAsLeader() bodies never run at once (the
 * in-process turn passes on only when the first body has returned). F2: with lockDelayMs, a campaign queued
 * in process behind a lost (not resigned) leader waits lockDelayMs too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, runAsLeader, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('election: in-process callers after the leader key is lost', () => {
  const etcd = useSharedEtcd('election-inproc-loss');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it('runAsLeader: two callers on one coordinator never run their bodies at once, even when the term is lost mid-body', async () => {
    const c = await coord();
    let running = 0;
    let maxRunning = 0;
    const log: string[] = [];
    const t0 = Date.now();
    const body = (id: string) => async (signal: AbortSignal) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      log.push(`${id} start ${Date.now() - t0} ms`);
      try {
        // A body that notices the abort at its next step: one 300 ms write in flight.
        while (!signal.aborted) await sleep(300);
        await sleep(300);
      } finally {
        running--;
        log.push(`${id} end ${Date.now() - t0} ms`);
      }
    };
    const a = runAsLeader(c, 'inproc/e', body('a'), { value: 'a' });
    await waitFor(() => running === 1);
    const b = runAsLeader(c, 'inproc/e', body('b'), { value: 'b' });
    await sleep(300);
    const leaderKey = (await c.election('inproc/e').leader())!.key;
    await etcd.admin.delete().key(`${etcd.prefix}${leaderKey}`);
    log.push(`a's key deleted ${Date.now() - t0} ms`);
    await a.catch(() => undefined);
    await waitFor(() => running === 1, { timeoutMs: 5000 });
    const bKey = (await c.election('inproc/e').leader())?.key;
    if (bKey) await etcd.admin.delete().key(`${etcd.prefix}${bKey}`);
    await b.catch(() => undefined);
    expect(maxRunning, log.join('; ')).toBe(1);
  });

  it('a campaign queued in process behind a leader whose key is deleted by an operator waits lockDelayMs', async () => {
    const c = await coord();
    const e = c.election('inproc/ld', { lockDelayMs: 2000 });
    const t1 = await e.campaign('one');
    let electedAt = 0;
    const second = e.campaign('two', { timeoutMs: 10_000 }).then((t) => {
      electedAt = Date.now();
      return t;
    });
    second.catch(() => undefined);
    await sleep(300);
    const deletedAt = Date.now();
    await etcd.admin.delete().key(`${etcd.prefix}${t1.key}`);
    const t2 = await second;
    expect(electedAt - deletedAt).toBeGreaterThanOrEqual(1900);
    await t2.resign();
  });

  it('a campaign queued in process behind a cleanly resigned leader is elected at once', async () => {
    const c = await coord();
    const e = c.election('inproc/ld-clean', { lockDelayMs: 2000 });
    const t1 = await e.campaign('one');
    let electedAt = 0;
    const second = e.campaign('two', { timeoutMs: 10_000 }).then((t) => {
      electedAt = Date.now();
      return t;
    });
    await sleep(300);
    const resignedAt = Date.now();
    await t1.resign();
    const t2 = await second;
    expect(electedAt - resignedAt).toBeLessThan(1900);
    await t2.resign();
  });
});
