/**
 * Acceptance 7: bad input is rejected before any request. The context below throws on any use of the
 * client, the watch hub or the session, so a validation that happened after a request would show up as
 * "touched etcd" instead of the expected error.
 */
import { describe, expect, it } from 'vitest';
import type { CoordContext } from '../../src/core/context.js';
import { Keyspace } from '../../src/core/keys.js';
import { Requester } from '../../src/core/rpc.js';
import { Election, once, runAsLeader } from '../../src/index.js';

function untouchable(): CoordContext {
  const trap = (what: string) =>
    new Proxy(
      {},
      {
        get: () => {
          throw new Error(`touched etcd: ${what}`);
        },
      },
    );
  return {
    client: trap('client') as CoordContext['client'],
    keyspace: new Keyspace('ns/'),
    requester: new Requester(1000),
    watchHub: trap('watchHub') as CoordContext['watchHub'],
    ttlSeconds: 2,
    currentSession: () => Promise.reject(new Error('touched etcd: session')),
    newSession: () => Promise.reject(new Error('touched etcd: session')),
    track: () => () => undefined,
    closedSignal: new AbortController().signal,
  };
}

describe('election: bad input is rejected before any request', () => {
  const ctx = untouchable();
  const fn = async () => 1;

  it('election names', () => {
    expect(() => new Election(ctx, '')).toThrow(/`name`/);
    expect(() => new Election(ctx, 'a\0b')).toThrow(/`name`.*NUL/);
    expect(() => new Election(ctx, 42 as unknown as string)).toThrow(TypeError);
  });

  it('campaign values and options', async () => {
    const e = new Election(ctx, 'svc');
    await expect(e.campaign(undefined as unknown as string)).rejects.toThrow(/`value`/);
    await expect(e.campaign(Buffer.alloc(1_600_000))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(e.campaign('v', { timeoutMs: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/`timeoutMs`/),
    });
    await expect(e.campaign('v', { signal: 'x' as unknown as AbortSignal })).rejects.toThrow(/`signal`/);
    expect(() => e.observe({ signal: {} as AbortSignal })).toThrow(/`signal`/);
  });

  it('runAsLeader arguments', async () => {
    await expect(runAsLeader(ctx, '', fn)).rejects.toThrow(/`name`/);
    await expect(runAsLeader(ctx, 'x', 'nope' as unknown as typeof fn)).rejects.toThrow(/`fn`/);
    await expect(runAsLeader(ctx, 'x', fn, { timeoutMs: Number.NaN })).rejects.toThrow(/`timeoutMs`/);
    await expect(runAsLeader(ctx, 'x', fn, { value: Buffer.alloc(2_000_000) })).rejects.toThrow(
      /`value`.*1\.5 MiB/,
    );
    await expect(runAsLeader(ctx, 'x', fn, { repeat: 'yes' as unknown as boolean })).rejects.toThrow(
      /`repeat`/,
    );
  });

  it('once arguments', async () => {
    await expect(once(ctx, '', { slot: 's' }, fn)).rejects.toThrow(/`job`/);
    await expect(once(ctx, 'j', { slot: '' }, fn)).rejects.toThrow(/`slot`/);
    await expect(once(ctx, 'j', undefined as unknown as { slot: string }, fn)).rejects.toThrow(/`opts`/);
    await expect(once(ctx, 'j', { slot: 's', onCrash: 'retry' as 'rerun' }, fn)).rejects.toThrow(/`onCrash`/);
    await expect(once(ctx, 'j', { slot: 's', ttlSeconds: 1 }, fn)).rejects.toThrow(/`ttlSeconds`.*≥ 2/);
    await expect(once(ctx, 'j', { slot: 's' }, null as unknown as typeof fn)).rejects.toThrow(/`fn`/);
  });
});
