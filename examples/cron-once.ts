/**
 * The cron-job guard: put the same crontab line on every host; `once()` makes sure the job runs once per
 * slot (here: per day), whichever hosts fire and whenever. A host that arrives after the run skips; a
 * run whose host crashed is re-run by the next host once the lease expires (the record lists both).
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/cron-once.ts [job] [slot]
 *
 * With EXAMPLE_SMOKE=1 it plays three hosts in this one process, firing 100 ms apart on a fresh slot,
 * prints who ran and who skipped, and removes the slot's record.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, once, type Coordinator } from '../src/index.js';

const smoke = process.env.EXAMPLE_SMOKE === '1';
const job = process.argv[2] ?? 'nightly-report';
const slot =
  process.argv[3] ?? (smoke ? `smoke-${process.pid}-${Date.now()}` : new Date().toISOString().slice(0, 10));

async function report(signal: AbortSignal): Promise<string> {
  await sleep(smoke ? 500 : 2000, undefined, { signal }); // the real work; stop when `signal` aborts
  return 'report.pdf';
}

async function host(coord: Coordinator, name: string): Promise<void> {
  const result = await once(coord, job, { slot, host: name }, report);
  const r = result.record;
  if (result.status === 'ran')
    console.log(`[${name}] ran ${job} for ${slot}: ${result.value} (${r.start} → ${r.end})`);
  else if (result.status === 'skipped')
    console.log(`[${name}] skipped: already done by ${r.host} at ${r.end}`);
  else console.log(`[${name}] slot failed: ${r.outcome} (attempts: ${r.attempts.length})`);
}

if (!smoke) {
  const coord = await connect({ ttlSeconds: 10 });
  try {
    await host(coord, hostname());
  } finally {
    await coord.close();
  }
} else {
  const namespace = 'examples/';
  const coords = await Promise.all([1, 2, 3].map(() => connect({ namespace, ttlSeconds: 2 })));
  try {
    await Promise.all(coords.map(async (c, i) => (await sleep(i * 100), host(c, `host-${i + 1}`))));
    await host(coords[0]!, 'host-late');
  } finally {
    await coords[0]!.client.delete().prefix(coords[0]!.keyspace.key(`once/${job}/${slot}/`));
    await Promise.all(coords.map((c) => c.close()));
  }
}
