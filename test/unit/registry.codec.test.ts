import { describe, expect, it } from 'vitest';
import {
  assertAddress,
  assertMetadata,
  decodeInstance,
  defaultInstanceId,
  encodeInstance,
  InvalidInstanceError,
} from '../../src/registry/codec.js';
import type { KeyValue } from '../../src/core/kv.js';

const kv = (key: string, value: string): KeyValue => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  createRevision: 5n,
  modRevision: 7n,
  version: 2n,
  leaseId: 0x1234n,
});

describe('registry codec', () => {
  it('accepts host:port, [ipv6]:port and scheme://host:port; rejects anything without a valid port', () => {
    for (const ok of [
      'a:1',
      '10.0.0.1:8443',
      'svc.ns.svc.cluster.local:65535',
      '[::1]:80',
      'http://h:8080',
      'grpc://h:1',
    ]) {
      expect(() => assertAddress(ok)).not.toThrow();
    }
    for (const bad of ['', 'host', 'host:', ':80', 'host:0', 'host:65536', 'host:port', '::1:80', 'a b:1']) {
      expect(() => assertAddress(bad), bad).toThrow(/`address`/);
    }
  });

  it('metadata must round-trip through JSON', () => {
    expect(() =>
      assertMetadata({ a: 1, b: [true, null, 'x', { c: 2.5 }], d: Object.create(null) as object }),
    ).not.toThrow();
    for (const bad of [
      null,
      [],
      'x',
      { u: undefined },
      { f: () => 0 },
      { b: 1n },
      { n: Infinity },
      { m: new Map() },
      { s: Symbol('s') },
    ]) {
      expect(() => assertMetadata(bad)).toThrow(/`metadata`/);
    }
    const shared = { x: 1 };
    expect(() => assertMetadata({ a: shared, b: shared })).not.toThrow(); // shared, not circular
  });

  it('encodes etcd naming/endpoints JSON and decodes it back', () => {
    const value = encodeInstance('h:1', { zone: 'a' }, 20);
    expect(JSON.parse(value.toString())).toEqual({ Addr: 'h:1', Metadata: { zone: 'a' } });
    const inst = decodeInstance(kv('services/api/i1', value.toString()), 'services/api/'.length);
    expect(inst).toEqual({
      id: 'i1',
      address: 'h:1',
      metadata: { zone: 'a' },
      leaseId: 0x1234n,
      revision: 7n,
    });
    // Written by another tool without Metadata (gRPC's resolver only needs Addr).
    expect(decodeInstance(kv('services/api/i2', '{"Addr":"x:2"}'), 'services/api/'.length).metadata).toEqual(
      {},
    );
  });

  it('rejects values that are not instances with InvalidInstanceError', () => {
    for (const raw of [
      '',
      'nope',
      '[]',
      '"s"',
      '{}',
      '{"Addr":1}',
      '{"Addr":""}',
      '{"Addr":"a:1","Metadata":[1]}',
    ]) {
      expect(() => decodeInstance(kv('services/api/x', raw), 13), raw).toThrow(InvalidInstanceError);
    }
  });

  it('rejects metadata over the request limit', () => {
    expect(() => encodeInstance('h:1', { big: 'x'.repeat(1_600_000) }, 20)).toThrow(/1\.5 MiB/);
  });

  it('default ids are host-pid-random and never contain a slash', () => {
    const a = defaultInstanceId();
    expect(a).toMatch(new RegExp(`-${process.pid}-[0-9a-f]{6}$`));
    expect(a).not.toContain('/');
    expect(defaultInstanceId()).not.toBe(a);
  });
});
