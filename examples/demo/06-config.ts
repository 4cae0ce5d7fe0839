import { z } from 'zod';
import { ConflictError, type Coordinator } from '../../src/index.js';

export const title = 'Watched config: snapshot + watch, validated, typed, one change per revision';

const AppConfig = z.object({
  db: z.object({ url: z.string(), pool: z.number().int().positive() }),
  log: z.object({ level: z.enum(['debug', 'info', 'warn']) }),
});

export async function run(coord: Coordinator, log: (line: string) => void): Promise<void> {
  const key = (k: string) => coord.keyspace.key(`demo-config/${k}`);
  await coord.client.put(key('db/url')).value('postgres://db-1:5432/app');
  await coord.client.put(key('db/pool')).value('10');

  const cfg = await coord.config('demo-config/', { schema: AppConfig, defaults: { log: { level: 'info' } } });
  try {
    log(`loaded at revision ${cfg.revision}: ${JSON.stringify(cfg.value)}`);
    cfg.on('change', (next, _prev, { revision, changedKeys }) =>
      log(`change @${revision} [${changedKeys.join(', ')}] → pool=${next.db.pool} url=${next.db.url}`),
    );
    cfg.on('invalid', (issues, _raw, { revision }) =>
      log(
        `invalid @${revision}: ${issues.map((i) => i.message).join('; ')} (value kept: pool=${cfg.value.db.pool})`,
      ),
    );

    // Two keys in one txn: one change, never a half-applied config.
    const txn = await coord.client
      .if(key('db/pool'), 'Mod', '>', 0)
      .then(
        coord.client.put(key('db/url')).value('postgres://db-2:5432/app'),
        coord.client.put(key('db/pool')).value('20'),
      )
      .commit();
    while (cfg.revision < BigInt(txn.header.revision)) await new Promise((r) => setTimeout(r, 5));

    await cfg.set('db/pool', 'lots'); // fails the schema: `invalid`, the last valid value stays
    await cfg.set('db/pool', 30);

    const seen = cfg.modRevision('db/pool');
    await coord.client.put(key('db/pool')).value('40'); // somebody else writes first
    try {
      await cfg.set('db/pool', 50, { expectRevision: seen });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      log(`set with a stale expectRevision: ${err.code}, nothing written (pool is ${cfg.value.db.pool})`);
    }

    const second = await coord.config('demo-config/', {
      schema: AppConfig,
      defaults: { log: { level: 'info' } },
    });
    log(`a second instance on the prefix: ${coord.watchHub.watcherCount} etcd watcher(s) in total`);
    await second.close();
  } finally {
    await cfg.close();
    await coord.client.delete().prefix(key(''));
  }
}
