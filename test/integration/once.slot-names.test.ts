/**
 * Issue 24 (A), formerly breaker F5: two (job, slot) pairs must never share one record. `once('j', { slot:
 * 'x/s/1' })` and `once('j/x', { slot: 's/1' })` both mapped to `once/j/x/s/1/`. The slot is now one
 * percent-encoded segment (`%` → `%25`, `/` → `%2F`), so both run and each has its own record; a job that
 * is empty or ends with `/` is a TypeError naming `job`, before anything is written.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('once(): slot names', () => {
  const etcd = useSharedEtcd('once-slot-names');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  const recordOf = async (key: string) =>
    JSON.parse((await etcd.admin.get(`${etcd.prefix}${key}`).string()) ?? 'null') as {
      job: string;
      slot: string;
      state: string;
    } | null;

  it('("j", "x/s/1") and ("j/x", "s/1") both run, each with its own record', async () => {
    const c = await coord();
    const r1 = await once(c, 'j', { slot: 'x/s/1' }, async () => 'first');
    expect(r1.status).toBe('ran');
    const r2 = await once(c, 'j/x', { slot: 's/1' }, async () => 'second');
    expect(r2).toMatchObject({ status: 'ran', value: 'second' });
    expect(await recordOf('once/j/x%2Fs%2F1/record')).toMatchObject({
      job: 'j',
      slot: 'x/s/1',
      state: 'done',
    });
    expect(await recordOf('once/j/x/s%2F1/record')).toMatchObject({ job: 'j/x', slot: 's/1', state: 'done' });
    // Each is done exactly once: a second call of either skips.
    expect((await once(c, 'j', { slot: 'x/s/1' }, async () => 'again')).status).toBe('skipped');
    expect((await once(c, 'j/x', { slot: 's/1' }, async () => 'again')).status).toBe('skipped');
  });

  it('a slot with "%" is encoded too ("a%2Fb" is not "a/b"); a plain slot keeps its raw key', async () => {
    const c = await coord();
    expect((await once(c, 'p', { slot: 'a/b' }, async () => 1)).status).toBe('ran');
    expect((await once(c, 'p', { slot: 'a%2Fb' }, async () => 2)).status).toBe('ran');
    expect((await once(c, 'p', { slot: '2026-11-21' }, async () => 3)).status).toBe('ran');
    const keys = (await etcd.admin.getAll().prefix(`${etcd.prefix}once/p/`).keys())
      .map((k) => k.slice(etcd.prefix.length))
      .filter((k) => k.endsWith('/record'))
      .sort();
    expect(keys).toEqual(['once/p/2026-11-21/record', 'once/p/a%252Fb/record', 'once/p/a%2Fb/record']);
  });

  it('a nested job whose name continues a slot\'s lock prefix ("j/s/lock") does not block ("j", "s")', async () => {
    const c = await coord();
    expect((await once(c, 'n/s/lock', { slot: 'x' }, async () => 1)).status).toBe('ran');
    const r = await once(c, 'n', { slot: 's', timeoutMs: 4000 }, async () => 2);
    expect(r.status).toBe('ran');
  });

  it('retainMs deletes an old record of a slot with "/" (its encoded key), and no record of a nested job', async () => {
    const c = await coord();
    const end = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const old = (job: string, slot: string) =>
      JSON.stringify({
        job,
        slot,
        state: 'done',
        host: 'h',
        pid: 1,
        start: end,
        end,
        outcome: 'ok',
        attempts: [{ host: 'h', pid: 1, start: end, end, outcome: 'ok', fencingToken: '5' }],
      });
    await etcd.admin.put(`${etcd.prefix}once/sw/old%2Fslot/record`).value(old('sw', 'old/slot'));
    await etcd.admin.put(`${etcd.prefix}once/sw/old/slot/record`).value(old('sw/old', 'slot'));
    const r = await once(c, 'sw', { slot: 'new', retainMs: 30 * 86_400_000 }, async () => 1);
    expect(r.status).toBe('ran');
    expect(await etcd.admin.get(`${etcd.prefix}once/sw/old%2Fslot/record`).string()).toBeNull();
    expect(await etcd.admin.get(`${etcd.prefix}once/sw/old/slot/record`).string()).not.toBeNull();
  });

  it('a job that is empty or ends with "/" is a TypeError naming `job`; nothing is written', async () => {
    const c = await coord();
    let ran = false;
    const fn = async () => {
      ran = true;
    };
    for (const bad of ['', 'rep/', 'rep//']) {
      const err = await once(c, bad, { slot: 's' }, fn).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TypeError);
      expect((err as Error).message).toContain('`job`');
    }
    expect(ran).toBe(false);
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}once/`).keys()).not.toContainEqual(
      expect.stringContaining('once/rep/'),
    );
  });
});
