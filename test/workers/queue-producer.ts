/**
 * Queue test producer: pushes jobs `{ n }` for n in [from, from + count) on queue `name`, four at a time,
 * printing `P <n> <id>` per job and `done` at the end. Endpoints from ETCD_ENDPOINTS, namespace from QUEUE_NS.
 */
import { connect } from '../../src/index.js';

const [name = 'q', fromArg = '0', countArg = '0'] = process.argv.slice(2);
const from = Number(fromArg);
const count = Number(countArg);
const coord = await connect({ namespace: process.env['QUEUE_NS'] ?? '', ttlSeconds: 2 });
const q = coord.queue<{ n: number }>(name, { maxAttempts: 1000 });
let next = from;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    for (let n = next++; n < from + count; n = next++) {
      const id = await q.push({ n });
      console.log(`P ${n} ${id}`);
    }
  }),
);
console.log('done');
await q.close();
await coord.close();
