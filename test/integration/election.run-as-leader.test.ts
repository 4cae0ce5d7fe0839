/**
 * runAsLeader: fn runs only while leader, resigns when fn returns or throws, `repeat` stands again after
 * a lost term, `wait: false` does not queue behind another leader.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, runAsLeader, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('runAsLeader', () => {
  const etcd = useSharedEtcd('election-ral');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it('returns what fn returned and resigns; rethrows what fn threw and resigns', async () => {
    const c = await coord();
    const value = await runAsLeader(c, 'job1', async (_signal, term) => {
      expect((await c.election('job1').leader())?.revision).toBe(term.fencingToken);
      return 'ok';
    });
    expect(value).toBe('ok');
    expect(await c.election('job1').leader()).toBeNull();
    await expect(
      runAsLeader(c, 'job1', () => Promise.reject(new Error('boom')), { value: 'x' }),
    ).rejects.toThrow('boom');
    expect(await c.election('job1').leader()).toBeNull();
  });

  it('waits behind the current leader; wait: false returns undefined at once', async () => {
    const [a, b] = [await coord(), await coord()];
    const term = await a.election('job2').campaign('a');
    let ran = false;
    expect(
      await runAsLeader(
        b,
        'job2',
        async () => {
          ran = true;
        },
        { wait: false },
      ),
    ).toBeUndefined();
    expect(ran).toBe(false);
    const waiting = runAsLeader(b, 'job2', async () => 'b ran');
    await waitFor(async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}job2/`).count()) === 2);
    await term.resign();
    expect(await waiting).toBe('b ran');
  });

  it('repeat: after the term is lost, fn aborts and runs again in a new term until the signal aborts', async () => {
    const c = await coord();
    const tokens: bigint[] = [];
    const stop = new AbortController();
    const running = runAsLeader(
      c,
      'job3',
      (signal, term) =>
        new Promise<void>((resolve) => {
          tokens.push(term.fencingToken);
          signal.addEventListener('abort', () => resolve(), { once: true });
        }),
      { repeat: true, signal: stop.signal },
    );
    await waitFor(() => tokens.length === 1);
    // Someone deletes the leader key: the term is lost, fn's signal aborts, and it stands again.
    await etcd.admin.delete().prefix(`${etcd.prefix}job3/`);
    await waitFor(() => tokens.length === 2, { message: 'a second term' });
    expect(tokens[1]!).toBeGreaterThan(tokens[0]!);
    stop.abort();
    await running;
    await waitFor(async () => (await c.election('job3').leader()) === null);
  });
});
