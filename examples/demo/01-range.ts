import type { Coordinator } from '../../src/index.js';

export const title = 'Range iteration: pages read at one revision (a consistent snapshot)';

export async function run(coord: Coordinator, log: (line: string) => void): Promise<void> {
  const ops = Array.from({ length: 25 }, (_, i) =>
    coord.client.put(coord.keyspace.key(`inventory/${String(i).padStart(3, '0')}`)).value(`item ${i}`),
  );
  await Promise.all(ops);
  const query = coord.range('inventory/', { pageSize: 10 });
  let n = 0;
  for await (const kv of query) {
    if (n === 0) {
      // Written while we iterate: not in the snapshot.
      await coord.client.put(coord.keyspace.key('inventory/999')).value('late');
      await coord.client.delete().key(coord.keyspace.key('inventory/024'));
      log(
        `first key ${kv.key.toString()} read at revision ${query.revision}; meanwhile added 999 and deleted 024`,
      );
    }
    n++;
  }
  log(`iterated ${n} keys in pages of 10, all at revision ${query.revision} (999 absent, 024 present)`);
  log(`count now: ${await coord.range('inventory/').count()} keys`);
  await coord.client.delete().prefix(coord.keyspace.key('inventory/'));
}
