/**
 * Issue 24: `connect()` options a first user gets wrong. A namespace without its trailing `/` (`'app1'`)
 * used to prefix keys as `app1nsx/…` and overlap with `app10`; an unknown option (`{ ttl: 5 }`) was
 * ignored. Now: the `/` is added, and unknown options are refused naming the one meant.
 */
import { describe, expect, it } from 'vitest';
import { connect, InvalidArgumentError } from '../../src/index.js';
import { normaliseNamespace, resolveOptions } from '../../src/core/connect.js';
import { useSharedEtcd } from '../support/shared.js';

describe('connect() options', () => {
  const etcd = useSharedEtcd('connect-options');

  it('a namespace without a trailing "/" gets one; "" and "x/" are kept', () => {
    expect(normaliseNamespace('app1')).toBe('app1/');
    expect(normaliseNamespace('app1/')).toBe('app1/');
    expect(normaliseNamespace('a/b')).toBe('a/b/');
    expect(normaliseNamespace('')).toBe('');
    expect(resolveOptions({ namespace: 'app1' }, {}).namespace).toBe('app1/');
    expect(resolveOptions({}, {}).namespace).toBe('');
  });

  it('keys of connect({ namespace: "<prefix>app1" }) live under "<prefix>app1/"', async () => {
    const ns = `${etcd.prefix}app1`;
    const coord = await connect({ endpoints: etcd.endpoints, namespace: ns });
    try {
      expect(coord.namespace).toBe(`${ns}/`);
      await coord.atomicCounter('k').add(1);
      const keys = await etcd.admin.getAll().prefix(etcd.prefix).keys();
      expect(keys).toContain(`${ns}/k`);
    } finally {
      await coord.close();
    }
  });

  it('an unknown option is refused, naming it and the option meant, before any request', async () => {
    const bad = (opts: object): Promise<unknown> =>
      connect({ endpoints: etcd.endpoints, ...(opts as Record<string, never>) }).then(
        async (c) => {
          await c.close();
          return undefined;
        },
        (err: unknown) => err,
      );
    const ttl = await bad({ ttl: 5 });
    expect(ttl).toBeInstanceOf(InvalidArgumentError);
    expect((ttl as Error).message).toMatch(
      /^Unknown connect\(\) option `ttl` \(did you mean `ttlSeconds`\?\)/,
    );
    expect(((await bad({ hosts: ['x:1'] })) as Error).message).toMatch(
      /`hosts` \(did you mean `endpoints`\?\)/,
    );
    expect(((await bad({ Namespace: 'a/' })) as Error).message).toMatch(/did you mean `namespace`/);
    const odd = (await bad({ frobnicate: true })) as Error;
    expect(odd).toBeInstanceOf(InvalidArgumentError);
    expect(odd.message).toMatch(/`frobnicate`; the options are endpoints, namespace/);
    expect(odd.message).not.toMatch(/did you mean/);
  });
});
