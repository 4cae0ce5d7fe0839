/**
 * Issue 16 f7: a once record written by another tool, or truncated, is reported as a CoordError naming its
 * key, and the job is not run on a record once() cannot read.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, CoordError, once, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('once(): a record it cannot read', () => {
  const etcd = useSharedEtcd('once-record');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  const cases: [string, string][] = [
    ['truncated JSON', '{"job":"j","slot":"tr'],
    ['not JSON at all', 'done by cron on host-b'],
    ['JSON of another shape', '{"status":"ok","when":"2026-11-21"}'],
    ['JSON null', 'null'],
    [
      'a record with a bad attempts list',
      '{"job":"j","slot":"s","state":"done","host":"h","pid":1,"start":"x","attempts":7}',
    ],
  ];
  for (const [what, value] of cases) {
    it(`${what}: a CoordError naming the key, and the job does not run`, async () => {
      const c = await coord();
      const slot = what.replace(/\W+/g, '-');
      await etcd.admin.put(`${etcd.prefix}once/j/${slot}/record`).value(value);
      let ran = false;
      const err: unknown = await once(c, 'j', { slot }, async () => {
        ran = true;
      }).catch((e: unknown) => e);
      expect(ran).toBe(false);
      expect(err).toBeInstanceOf(CoordError);
      expect((err as Error).message).toContain(`once/j/${slot}/record`);
    });
  }
});
