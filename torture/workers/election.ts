/**
 * Election worker: campaigns; while leader, appends to a shared log key with a txn guarded by the
 * term (`term.guardCompare()`), then resigns after a few writes so leadership moves around.
 *
 * History: `elected` {token}, `write` {token, n, revision, write: true}, `resign` {token}.
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
  while (!w.quiesce.aborted) {
    const won = await w.record(
      'elected',
      {},
      () => election.campaign(w.name, { signal: w.quiesce }),
      (t: Term) => ({ token: t.fencingToken.toString() }),
    );
    const term = won.value;
    if (term === undefined) {
      await pause(100, w.quiesce);
      continue;
    }
    const token = term.fencingToken.toString();
    const writes = rng.int(5, 40);
    let n = 0;
    while (!term.signal.aborted && !w.quiesce.aborted && n < writes) {
      const value = Buffer.from(JSON.stringify({ token, worker: w.name, n }));
      await w.record(
        'write',
        { token, n, write: true },
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
    await w.record('resign', { token }, () => term.resign());
  }
});
