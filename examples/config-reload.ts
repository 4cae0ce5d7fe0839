/**
 * Live config reload: a worker pool whose size, log level and upstream URL come from etcd, validated
 * with zod, applied on every change without a restart.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/config-reload.ts
 *   etcdctl put examples/app/config/pool/size 8          # → "resizing pool 4 → 8"
 *   etcdctl put examples/app/config/pool/size lots       # → rejected, the pool keeps 8 workers
 *   etcdctl put examples/app/config/upstream/url http://b:8080
 *
 * With EXAMPLE_SMOKE=1 it makes those changes itself (and one invalid one), then exits after a few
 * seconds, deleting what it wrote.
 */
import { z } from 'zod';
import { connect, type ConfigChangeInfo } from '../src/index.js';

const AppConfig = z.object({
  pool: z.object({ size: z.number().int().min(1).max(64) }),
  log: z.object({ level: z.enum(['debug', 'info', 'warn', 'error']) }),
  upstream: z.object({ url: z.url(), timeoutMs: z.number().int().positive() }),
});
type AppConfig = z.infer<typeof AppConfig>;

const smoke = process.env.EXAMPLE_SMOKE === '1';
const coord = await connect({ namespace: 'examples/', ttlSeconds: 5 });
const stop = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());

/** The "application": whatever must be reconfigured when the config changes. */
function apply(next: AppConfig, prev: AppConfig | undefined, info?: ConfigChangeInfo): void {
  const at = info ? ` (revision ${info.revision}, keys ${info.changedKeys.join(', ')})` : '';
  if (!prev) console.log(`starting: ${JSON.stringify(next)}`);
  if (prev && prev.pool.size !== next.pool.size)
    console.log(`resizing pool ${prev.pool.size} → ${next.pool.size}${at}`);
  if (prev && prev.log.level !== next.log.level)
    console.log(`log level ${prev.log.level} → ${next.log.level}${at}`);
  if (prev && prev.upstream.url !== next.upstream.url)
    console.log(`upstream ${prev.upstream.url} → ${next.upstream.url}${at}`);
}

try {
  if (smoke) {
    // Something to start from; a real deployment writes it with etcdctl or a deploy job.
    await coord.client.put(coord.keyspace.key('app/config/upstream/url')).value('http://a:8080');
  }
  const cfg = await coord.config('app/config/', {
    schema: AppConfig,
    defaults: { pool: { size: 4 }, log: { level: 'info' }, upstream: { timeoutMs: 2000 } },
    timeoutMs: 5000,
  });
  apply(cfg.value, undefined);
  cfg.on('change', (next, prev, info) => apply(next, prev, info));
  cfg.on('invalid', (issues, _raw, { revision }) =>
    console.warn(
      `rejected config at revision ${revision}: ${issues.map((i) => `${i.path?.join('.')}: ${i.message}`).join('; ')}`,
    ),
  );
  cfg.on('conflict', (conflicts) =>
    conflicts.forEach((c) => console.warn(`ignored key ${c.key} (${c.reason})`)),
  );

  if (smoke) {
    await cfg.set('pool/size', 8);
    await cfg.set('pool/size', 'lots'); // rejected: the pool keeps 8 workers until the key is fixed
    await cfg.set('pool/size', 12);
    await cfg.set('log/level', 'debug');
    await cfg.set('upstream/url', 'http://b:8080', { expectRevision: cfg.modRevision('upstream/url') });
    setTimeout(() => stop.abort(), 1000);
  }
  await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
  console.log(`stopping with ${JSON.stringify(cfg.value)}`);
  await cfg.close();
} finally {
  if (smoke) await coord.client.delete().prefix(coord.keyspace.key('app/config/'));
  await coord.close();
}
