import { describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { cliArgv, runSh, useCli } from './cli-helper.js';

describe('examples/cron-guard.sh', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-cron');

  it('three hosts running the same crontab line: one runs the job, all exit 0', async () => {
    // The script splits ETCD_COORD into words (no quote parsing): the paths have no spaces.
    const env = {
      ETCD_ENDPOINTS: etcd.endpoints.join(','),
      ETCD_COORD: `${cliArgv().join(' ')} --namespace ${etcd.prefix}`,
      EXAMPLE_SLOT: 'smoke',
    };
    const runs = await Promise.all([0, 1, 2].map(() => runSh('sh examples/cron-guard.sh', env)));
    for (const r of runs) expect(r.code, r.output).toBe(0);
    const ran = runs
      .flatMap((r) => r.output.split('\n'))
      .filter((l) => / runs hourly-report for slot smoke \(fencing token \d+\)$/.test(l));
    expect(ran).toHaveLength(1);
    expect(runs.filter((r) => r.output.includes('already done'))).toHaveLength(2);
  });
});
