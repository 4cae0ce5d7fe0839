import { describe, expect, it } from 'vitest';
import {
  Etcd3,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  GRPCInvalidArgumentError,
  GRPCUnauthenticatedError,
} from 'etcd3';
import {
  describeKeyRange,
  invalidateAuthToken,
  isAuthStaleError,
  isAuthTokenError,
  watchCancelKind,
} from '../../src/core/auth.js';
import { createClient, resolveOptions } from '../../src/core/connect.js';
import { toCoordError, PermissionDeniedError } from '../../src/core/errors.js';

describe('core auth helpers', () => {
  it('describeKeyRange names a key, a prefix, an open range and a range, escaping unprintable bytes', () => {
    expect(describeKeyRange(Buffer.from('app1/a'))).toBe('key "app1/a"');
    expect(describeKeyRange(Buffer.from('app2/'), Buffer.from('app20'))).toBe('prefix "app2/"');
    expect(describeKeyRange(Buffer.from('a'), Buffer.from([0]))).toBe('keys from "a"');
    expect(describeKeyRange(Buffer.from([0]), Buffer.from([0]))).toBe('every key');
    expect(describeKeyRange(Buffer.from('a'), Buffer.from('c'))).toBe('range ["a", "c")');
    expect(describeKeyRange(Buffer.from([0x61, 0x0a, 0x22, 0xff]))).toBe('key "a\\x0a\\x22\\xff"');
  });

  it('watchCancelKind tells an expired token from a denied permission (etcd gives only text)', () => {
    expect(watchCancelKind('rpc error: code = Unauthenticated desc = etcdserver: invalid auth token')).toBe(
      'auth-token',
    );
    expect(watchCancelKind('rpc error: code = PermissionDenied desc = etcdserver: permission denied')).toBe(
      'permission',
    );
    expect(
      watchCancelKind('rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old'),
    ).toBe('auth-token');
    expect(watchCancelKind('mvcc: required revision has been compacted')).toBe('other');
  });

  it('isAuthTokenError accepts etcd3 types and raw gRPC stream errors, not permission errors', () => {
    expect(isAuthTokenError(new EtcdInvalidAuthTokenError('etcdserver: invalid auth token'))).toBe(true);
    expect(isAuthTokenError(new GRPCUnauthenticatedError('16 UNAUTHENTICATED'))).toBe(true);
    const raw = Object.assign(new Error('16 UNAUTHENTICATED: etcdserver: invalid auth token'), { code: 16 });
    expect(isAuthTokenError(raw)).toBe(true);
    expect(isAuthTokenError(new EtcdPermissionDeniedError('etcdserver: permission denied'))).toBe(false);
    expect(isAuthTokenError(undefined)).toBe(false);
  });

  it('isAuthStaleError recognises "revision of auth store is old" (a JWT token older than an RBAC change)', () => {
    const stale = new GRPCInvalidArgumentError(
      '3 INVALID_ARGUMENT: etcdserver: revision of auth store is old',
    );
    expect(isAuthStaleError(stale)).toBe(true);
    expect(
      isAuthStaleError(new GRPCInvalidArgumentError('3 INVALID_ARGUMENT: etcdserver: key is not provided')),
    ).toBe(false);
    const mapped = toCoordError(stale, 'counter "c": increment');
    expect(mapped).toBeInstanceOf(PermissionDeniedError);
    expect(mapped.message).toMatch(/older than its last RBAC change/);
  });

  it('invalidateAuthToken finds etcd3 internals it relies on (fails here first on an etcd3 upgrade)', () => {
    const client = new Etcd3({ hosts: '127.0.0.1:1', auth: { username: 'u', password: 'p' } });
    try {
      expect(invalidateAuthToken(client)).toBe(true);
    } finally {
      client.close();
    }
    expect(invalidateAuthToken({} as Etcd3)).toBe(false);
  });

  it('a permission error from etcd is PERMISSION_DENIED naming the operation', () => {
    const err = toCoordError(
      new EtcdPermissionDeniedError('etcdserver: permission denied'),
      'counter "app2/c": increment',
    );
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err.message).toMatch(/^counter "app2\/c": increment: permission denied/);
  });
});

describe('connect options for TLS and auth', () => {
  it('a client certificate needs its key, and the reverse, before any request', () => {
    expect(() => resolveOptions({ tls: { cert: 'x.crt' } }, {})).toThrow(/`tls.cert` and `tls.key` together/);
    expect(() => resolveOptions({ tls: { key: 'x.key' } }, {})).toThrow(/`tls.cert` and `tls.key` together/);
    expect(() => resolveOptions({ auth: { username: '', password: 'p' } }, {})).toThrow(/`auth`/);
  });

  it('an unreadable TLS file is named by path; the error never quotes key material', () => {
    const opts = { tls: { ca: '/nonexistent/ca.pem' } };
    expect(() => createClient(opts, resolveOptions(opts, {}))).toThrow(
      /`tls.ca`.*"\/nonexistent\/ca.pem" \(ENOENT\)/,
    );
    const key = '-----BEGIN PRIVATE KEY-----\nnot-a-real-key-but-secret\n-----END PRIVATE KEY-----\n';
    let message = '';
    try {
      const o = { tls: { cert: '/nonexistent/c.pem', key } };
      createClient(o, resolveOptions(o, {})).close();
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/`tls.cert`/);
    expect(message).not.toContain('not-a-real-key-but-secret');
  });
});
