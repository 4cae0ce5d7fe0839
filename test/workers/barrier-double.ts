/**
 * A double-barrier participant process. Prints `ready`, then `waiting <key suffix>` once its participant key
 * exists (`<lease hex>` under `<name>/waiters/`), then after `enter()` returns puts
 * `log/<id>/entered` and prints `entered <revision of that put>`; after WORK_MS, `leave()`, then puts
 * `log/<id>/left` and prints `left <revision>`. With MODE=hang it never leaves (to be killed). Errors print
 * `error <code>`.
 *
 * argv: <name> <count> <id>   env: ETCD_ENDPOINTS, COORD_NAMESPACE, COORD_TTL, ENTER_DELAY_MS, WORK_MS, MODE
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '../../src/index.js';

const [name = 'barrier', countRaw = '2', id = String(process.pid)] = process.argv.slice(2);
const coord = await connect({
  endpoints: (process.env['ETCD_ENDPOINTS'] ?? '127.0.0.1:2379').split(','),
  namespace: process.env['COORD_NAMESPACE'] ?? '',
  ttlSeconds: Number(process.env['COORD_TTL'] ?? 5),
});
process.once('SIGTERM', () => void coord.close().then(() => process.exit(0)));

/** A put whose revision orders this moment against every other write to etcd. */
async function mark(what: string): Promise<string> {
  const res = await coord.client.kv.put({
    key: coord.keyspace.key(`log/${id}/${what}`),
    value: Buffer.from(what),
  });
  return res.header.revision;
}

try {
  console.log('ready');
  await sleep(Number(process.env['ENTER_DELAY_MS'] ?? 0));
  const barrier = coord.doubleBarrier(name, Number(countRaw));
  const waiters = `${name}/waiters/`;
  // Report the participant key as soon as it exists (the test maps etcd's events to processes by it), and
  // at the latest when enter() returns (it can complete before the first tick).
  let reported = false;
  const report = (): void => {
    if (reported || !barrier.key) return;
    reported = true;
    const key = coord.keyspace.strip(barrier.key).toString();
    console.log(`waiting ${key.slice(waiters.length)}`);
  };
  const reporter = setInterval(report, 10);
  try {
    await barrier.enter({ timeoutMs: 60_000 });
    report();
  } finally {
    clearInterval(reporter);
  }
  console.log(`entered ${await mark('entered')}`);
  // Stays inside for ever, keeping its lease alive, until the test kills it.
  if (process.env['MODE'] === 'hang') await new Promise(() => setInterval(() => undefined, 1000));
  await sleep(Number(process.env['WORK_MS'] ?? 0));
  await barrier.leave({ timeoutMs: 60_000 });
  console.log(`left ${await mark('left')}`);
  await coord.close();
} catch (err) {
  console.log(`error ${(err as { code?: string }).code ?? String(err)}`);
  await coord.close();
  process.exitCode = 1;
}
