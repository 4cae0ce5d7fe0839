/**
 * Election worker: campaigns; while leader, appends to a shared log key with a txn guarded by the
 * term (`term.guardCompare()`), then resigns after a few writes so leadership moves around.
 *
 * `TORTURE_CALLERS` > 1 campaigns with that many concurrent callers on the one coordinator and election
 * (issue 14: two `campaign()` calls on one session must never both believe they are sole leader);
 * entries carry `caller`. On SIGUSR2 the worker reports the leader keys it believes it holds (`held`).
 *
 * Role `observer`: follows `observe()` and reports the leader key it last saw (`final` {leader}).
 *
 * History: `elected` {caller, token}, `write` {caller, token, n, revision, write: true}, `lost` {caller,
 * token, reason} (the term ended before its resign), `resign`
 * {caller, token}, `observed` {leader}, `final` {held} or {leader}.
 *
 * @module
 */
import type { Term } from '../../src/index.js';
import { pause, runWorker } from './common.js';
import { ELECTION_LOG_KEY, ELECTION_NAME } from '../names.js';

await runWorker(async (w) => {
  const { coord, rng } = w;
  const election = coord.election(ELECTION_NAME);
  const logKey = coord.keyspace.key(ELECTION_LOG_KEY);
  if (w.role === 'observer') {
    // A follower of the leader (issue 16): after healing its view must equal a direct read.
    let current: string | null = null;
    w.onReport(() => ({ leader: current }));
    void (async () => {
      while (!w.stopping.aborted) {
        try {
          for await (const leader of election.observe({ signal: w.stopping })) {
            current = leader?.key ?? null;
            w.append('observed', 'ok', { leader: current });
          }
        } catch (err) {
          if (!w.stopping.aborted) w.append('observe', 'failed', { error: String(err).slice(0, 200) });
        }
        await pause(200, w.stopping);
      }
    })();
    return;
  }
  const held = new Map<string, number>(); // key → callers holding it
  w.onReport(() => ({ held: [...held.keys()].sort() }));
  await Promise.all(Array.from({ length: w.callers }, (_, caller) => loop(caller)));

  async function loop(caller: number): Promise<void> {
    while (!w.quiesce.aborted) {
      const won = await w.record(
        'elected',
        { caller },
        () => election.campaign(w.name, { signal: w.quiesce }),
        (t: Term) => ({ token: t.fencingToken.toString() }),
      );
      const term = won.value;
      if (term === undefined) {
        await pause(100, w.quiesce);
        continue;
      }
      const token = term.fencingToken.toString();
      held.set(term.key, (held.get(term.key) ?? 0) + 1);
      const writes = rng.int(5, 40);
      let n = 0;
      while (!term.signal.aborted && !w.quiesce.aborted && n < writes) {
        const value = Buffer.from(JSON.stringify({ token, worker: w.name, n }));
        await w.record(
          'write',
          { caller, token, n, write: true },
          async () => {
            const res = await coord.requester.run(
              'torture leader write',
              (o) =>
                coord.client.kv.txn(
                  {
                    compare: [term.guardCompare()],
                    success: [{ request_put: { key: logKey, value } }],
                    failure: [],
                  },
                  o,
                ),
              { write: true },
            );
            if (!res.succeeded)
              throw Object.assign(new Error('guard failed: not leader'), { code: 'CONFLICT' });
            return BigInt(res.header.revision);
          },
          (rev) => ({ revision: rev.toString() }),
        );
        n++;
        await pause(rng.int(20, 60), w.quiesce);
      }
      if (term.signal.aborted) {
        // Lost before we resigned (lease expired, key gone, a member down): resign() rejects NOT_LEADER by
        // contract, which is not a failed op; note the loss instead and release what is left (nothing).
        const reason = (term.signal.reason as { code?: string } | undefined)?.code ?? 'unknown';
        w.append('lost', 'ok', { caller, token, reason });
        await term.close().catch(() => undefined);
      } else await w.record('resign', { caller, token }, () => term.resign());
      const left = (held.get(term.key) ?? 1) - 1;
      if (left > 0) held.set(term.key, left);
      else held.delete(term.key);
    }
  }
});
