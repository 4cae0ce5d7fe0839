import type { Coordinator } from '../../src/index.js';
import { once } from '../../src/index.js';

export const title = 'Election: campaign in order, fast handover, observe, once-per-slot';

export async function run(coord: Coordinator, log: (line: string) => void): Promise<void> {
  const other = await coord.newSession({ ttlSeconds: 5 });
  const seen: string[] = [];
  const watching = new AbortController();
  const observing = (async () => {
    for await (const leader of coord.election('demo/scheduler').observe({ signal: watching.signal })) {
      seen.push(leader ? leader.value.toString() : '(none)');
    }
  })();
  try {
    const a = await coord.election('demo/scheduler').campaign('node-a');
    log(`node-a elected: key ${a.key}, fencing token ${a.fencingToken}`);
    const waiting = coord.election('demo/scheduler', { session: other }).campaign('node-b');
    await new Promise((r) => setTimeout(r, 100));
    await a.proclaim('node-a (draining)');
    const t = performance.now();
    await a.resign();
    const b = await waiting;
    log(
      `node-a resigned → node-b elected ${(performance.now() - t).toFixed(1)} ms later, token ${b.fencingToken}`,
    );
    await a
      .proclaim('stale')
      .catch((err: { code?: string }) => log(`node-a proclaims after resigning → ${err.code}`));
    await b.resign();
    await new Promise((r) => setTimeout(r, 100));
    log(`observe() saw: ${seen.join(' → ')}`);

    const slot = `demo-${Date.now()}`;
    const first = await once(coord, 'report', { slot }, async () => 'built');
    const second = await once(coord, 'report', { slot }, async () => 'built again?');
    log(`once(report, ${slot}): first call ${first.status}, second call ${second.status}`);
    await coord.client.delete().prefix(coord.keyspace.key(`once/report/${slot}/`));
  } finally {
    watching.abort();
    await observing;
    await other.close();
  }
}
