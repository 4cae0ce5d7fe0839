import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { measure, percentile, type BenchContext, type Scenario } from '../lib.js';

const run = promisify(execFile);
const MAIN = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const RUNS = 10;

/** One process per operation, as a shell script or cron job uses the CLI, next to `etcdctl lock`. */
async function cliLock(ctx: BenchContext): Promise<void> {
  if (!existsSync(MAIN)) {
    ctx.log(`cli: ${MAIN} not built (npm run build): skipped`);
    return;
  }
  const prefix = ctx.prefix('cli');
  const endpoints = ctx.endpoints.join(',');
  const variants: Array<{ variant: string; argv: () => [string, string[]] }> = [
    {
      variant: 'etcd-coord --help (process start-up only)',
      argv: () => [process.execPath, [MAIN, '--help']],
    },
    {
      variant: 'etcd-coord lock <name> -- true (process per lock)',
      argv: () => [process.execPath, [MAIN, '--endpoints', endpoints, 'lock', `${prefix}l`, '--', 'true']],
    },
  ];
  try {
    await run('etcdctl', ['version']);
    variants.push({
      variant: 'etcdctl lock <name> true (process per lock)',
      argv: () => ['etcdctl', ['--endpoints', endpoints, 'lock', `${prefix}e`, 'true']],
    });
  } catch {
    ctx.log('cli: no etcdctl on PATH: its row is left out');
  }
  for (const { variant, argv } of variants) {
    const [file, args] = argv();
    await run(file, args, { env: { ...process.env, ETCDCTL_API: '3' } }); // warm the file cache
    const r = await measure(RUNS, 1, async () => {
      await run(file, args, { env: { ...process.env, ETCDCTL_API: '3' } });
    });
    ctx.record({
      scenario: 'cli',
      variant,
      opsPerSec: r.opsPerSec,
      p50Ms: percentile(r.latencies, 50),
      p99Ms: percentile(r.latencies, 99),
    });
  }
}

export const scenarios: Scenario[] = [{ name: 'cli: process per lock vs etcdctl lock', run: cliLock }];
