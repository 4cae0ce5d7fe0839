/**
 * A cron host for the once() tests: `once(job, {slot})` with a job that records an execution key
 * `exec/<job>/<pid>` and then sleeps `jobMs`. Prints `running <pid>` when the job starts and, at the end,
 * `result <status> <record JSON>`.
 *
 * argv: <job> <slot> <jobMs> [onCrash]   env: ETCD_ENDPOINTS, COORD_NAMESPACE, COORD_TTL (default 2)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, once } from '../../src/index.js';

const [job = 'job', slot = 'slot', jobMsRaw = '500', onCrash = 'rerun'] = process.argv.slice(2);
const coord = await connect({
  endpoints: (process.env['ETCD_ENDPOINTS'] ?? '127.0.0.1:2379').split(','),
  namespace: process.env['COORD_NAMESPACE'] ?? '',
  ttlSeconds: Number(process.env['COORD_TTL'] ?? 2),
});
try {
  const result = await once(
    coord,
    job,
    { slot, onCrash: onCrash as 'rerun' | 'fail', host: `host-${process.pid}` },
    async (signal) => {
      await coord.client.put(coord.keyspace.key(`exec/${job}/${process.pid}`)).value('1');
      console.log(`running ${process.pid}`);
      await sleep(Number(jobMsRaw), undefined, { signal });
      return 'done';
    },
  );
  console.log(`result ${result.status} ${JSON.stringify(result.record)}`);
} finally {
  await coord.close();
}
