/**
 * Issue 16, finding 5: `connect({ client })` with an `etcd3` client from another copy of the package. Its
 * error classes are not this copy's, so `instanceof` never matches; errors must still map to CoordError.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ours from 'etcd3';
import {
  CompactedError,
  connect,
  PermissionDeniedError,
  SessionExpiredError,
  UnavailableError,
} from '../../src/index.js';
import { toCoordError } from '../../src/core/errors.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const require = createRequire(import.meta.url);

/** A second, separately loaded copy of etcd3 (its own classes; its dependencies linked to ours). */
function loadSecondCopy(): { etcd3: typeof ours; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'etcd3-copy-'));
  const modules = join(dir, 'node_modules');
  const source = dirname(require.resolve('etcd3/package.json'));
  cpSync(source, join(modules, 'etcd3'), { recursive: true, dereference: true });
  for (const dep of ['@grpc/grpc-js', '@grpc/proto-loader', 'bignumber.js', 'cockatiel']) {
    const target = join(modules, dep);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(dirname(require.resolve(`${dep}/package.json`, { paths: [source] })), target);
  }
  return { etcd3: require(join(modules, 'etcd3')) as typeof ours, dir };
}

const copy = loadSecondCopy();
afterAll(() => rmSync(copy.dir, { recursive: true, force: true }));

describe('errors from another copy of etcd3 map to CoordError', () => {
  it('really is another copy: instanceof against ours fails', () => {
    expect(copy.etcd3.GRPCUnavailableError).not.toBe(ours.GRPCUnavailableError);
    expect(new copy.etcd3.GRPCUnavailableError('x')).not.toBeInstanceOf(ours.GRPCUnavailableError);
  });

  it.each([
    ['GRPCUnavailableError', '14 UNAVAILABLE: Connection dropped', UnavailableError],
    ['GRPCDeadlineExceededError', '4 DEADLINE_EXCEEDED: Deadline exceeded', UnavailableError],
    ['GRPCCancelledError', '1 CANCELLED: Call cancelled', UnavailableError],
    [
      'EtcdPermissionDeniedError',
      '7 PERMISSION_DENIED: etcdserver: permission denied',
      PermissionDeniedError,
    ],
    [
      'EtcdAuthenticationFailedError',
      'etcdserver: authentication failed, invalid user ID or password',
      PermissionDeniedError,
    ],
    ['GRPCUnauthenticatedError', '16 UNAUTHENTICATED: bad token', PermissionDeniedError],
    ['EtcdLeaseInvalidError', '5 NOT_FOUND: etcdserver: requested lease not found', SessionExpiredError],
    [
      'GRPCOutOfRangeError',
      '11 OUT_OF_RANGE: etcdserver: mvcc: required revision has been compacted',
      CompactedError,
    ],
    ['ClientClosedError', 'KV', UnavailableError],
  ] as const)('%s → %s', (name, message, expected) => {
    const Ctor = (copy.etcd3 as unknown as Record<string, new (m: string) => Error>)[name]!;
    const mapped = toCoordError(new Ctor(message), 'op', true);
    expect(mapped).toBeInstanceOf(expected);
  });

  it('a refusal from it is recognised as one (the message says "not applied" for a read)', () => {
    const refused = toCoordError(
      new copy.etcd3.GRPCUnavailableError(
        '14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED',
      ),
      'get',
      false,
    );
    expect(refused).toBeInstanceOf(UnavailableError);
    expect((refused as Error).message).toMatch(/not applied/);
  });
});

describe('connect({ client }) with a client from another copy of etcd3', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  // Its own (default) etcd3 policy retries a timed-out write on a new connection, whose refusal is then
  // the error we see: the write must still be reported "may have applied", not "refused".
  it('an unanswered write through it is UNAVAILABLE with mayHaveApplied, and reads are retried to UNAVAILABLE', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const client = new copy.etcd3.Etcd3({ hosts: [`http://${proxy.endpoint}`] });
    const coord = await connect({
      client: client as unknown as ours.Etcd3,
      namespace: uniquePrefix('foreign'),
      ttlSeconds: 2,
    });
    try {
      expect(await coord.counter('c').increment()).toBe(1n);
      proxy.blackhole();
      const write = await coord
        .counter('c')
        .increment({ timeoutMs: 500 })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(write).toBeInstanceOf(UnavailableError);
      expect((write as UnavailableError).mayHaveApplied).toBe(true);
      const read = await coord
        .range('x/', { timeoutMs: 1000 })
        .count()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(read).toBeInstanceOf(UnavailableError);
    } finally {
      proxy.pass();
      await coord.close();
      client.close();
      await proxy.close();
    }
  });
});
