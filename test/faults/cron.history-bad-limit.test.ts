/**
 * Breaker b-cron finding (bad input): `job.history({ limit })` does not check `limit` (src/cron/history.ts,
 * `cronHistory`: `out.sort(…).slice(0, limit)`). `limit: -1` answers every slot but the oldest, `limit: NaN`
 * or `'5'`-as-any answer nothing/garbage instead of a TypeError / InvalidArgumentError naming `limit`.
 * Expected to FAIL on the current code.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, schedule, type CronJob, type Coordinator } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

describe('cron: history() with a bad limit', { timeout: 30_000 }, () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let coord: Coordinator;
  let job: CronJob;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: uniquePrefix('cron-limit') });
    job = schedule(coord, 'lim', '* * * * * *', async () => undefined);
    await sleep(3_500);
    await job.close();
  });
  afterAll(async () => {
    await coord.close();
  });

  for (const limit of [-1, Number.NaN, 1.5, '2' as unknown as number]) {
    it(`history({ limit: ${String(limit)} }) rejects naming \`limit\``, async () => {
      const got = await job.history({ limit }).then(
        (h) => `resolved ${h.length} entries`,
        (e: unknown) => e,
      );
      expect(got).toBeInstanceOf(Error);
      expect(String((got as Error).message)).toMatch(/`limit`/);
    });
  }
});
