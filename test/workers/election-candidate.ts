/**
 * A candidate process for the at-most-one-leader tests. Campaigns on `<name>` forever; while leader, does
 * a write every 20 ms guarded by its leader key's create revision (the fencing token): `w/<token>-<n>`.
 * Prints `elected <token> <leaseHex>`, `lost <token> <code>`, and `resigned <token>`.
 *
 * argv: <name> <id> [resignAfterWrites]   env: ETCD_ENDPOINTS, COORD_NAMESPACE, COORD_TTL
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Term } from '../../src/index.js';

const [name = 'leader', id = String(process.pid), resignAfterRaw] = process.argv.slice(2);
const resignAfter = resignAfterRaw === undefined ? Infinity : Number(resignAfterRaw);
const coord = await connect({
  endpoints: (process.env['ETCD_ENDPOINTS'] ?? '127.0.0.1:2379').split(','),
  namespace: process.env['COORD_NAMESPACE'] ?? '',
  ttlSeconds: Number(process.env['COORD_TTL'] ?? 2),
  requestTimeoutMs: 1000,
});
let stopping = false;
process.once('SIGTERM', () => {
  stopping = true;
  void coord.close().then(() => process.exit(0));
});

const pad = (n: bigint | number) => String(n).padStart(12, '0');
const election = coord.election(name);
console.log(`ready ${id}`);
while (!stopping) {
  let term: Term;
  try {
    term = await election.campaign(id);
  } catch (err) {
    console.log(`campaign-failed ${(err as { code?: string }).code ?? String(err)}`);
    await sleep(100);
    continue;
  }
  const token = term.fencingToken;
  console.log(`elected ${token} ${term.leaseId.toString(16)}`);
  let n = 0;
  while (!term.signal.aborted && !stopping) {
    try {
      const res = await coord.client.kv.txn(
        {
          compare: [term.guardCompare()],
          success: [
            { request_put: { key: coord.keyspace.key(`w/${pad(token)}-${pad(n)}`), value: Buffer.from(id) } },
          ],
          failure: [],
        },
        { deadline: new Date(Date.now() + 1000) },
      );
      if (res.succeeded) n++;
    } catch {
      // unavailable: the term's signal decides whether we are still leader
    }
    if (n >= resignAfter) {
      await term.resign().catch(() => undefined);
      console.log(`resigned ${token}`);
      break;
    }
    await sleep(20);
  }
  if (term.signal.aborted)
    console.log(`lost ${token} ${(term.signal.reason as { code?: string }).code ?? '?'}`);
}
