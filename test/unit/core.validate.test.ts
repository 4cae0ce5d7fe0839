import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/core/connect.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { assertName, assertTtlSeconds, assertValueSize, MAX_REQUEST_BYTES } from '../../src/core/validate.js';

describe('argument validation names the argument', () => {
  it('rejects empty names and names with NUL', () => {
    expect(() => assertName('', 'name')).toThrow(/`name`/);
    expect(() => assertName('a\0b', 'name')).toThrow(InvalidArgumentError);
    expect(() => assertName(3, 'name')).toThrow(TypeError);
  });

  it('rejects TTLs below etcd’s 2 s minimum', () => {
    expect(() => assertTtlSeconds(1)).toThrow(/`ttlSeconds` to be an integer ≥ 2, got 1/);
    expect(() => assertTtlSeconds(2.5)).toThrow(InvalidArgumentError);
    expect(() => assertTtlSeconds(2)).not.toThrow();
  });

  it('rejects values over the request limit', () => {
    expect(() => assertValueSize(Buffer.alloc(MAX_REQUEST_BYTES), 'value')).toThrow(/`value`/);
    expect(() => assertValueSize(Buffer.alloc(1000), 'value')).not.toThrow();
  });

  it('resolves endpoints from options, then ETCD_ENDPOINTS, then ETCDCTL_ENDPOINTS, then the default', () => {
    expect(resolveOptions({ endpoints: ['10.0.0.1:2379'] }, {}).endpoints).toEqual(['10.0.0.1:2379']);
    expect(resolveOptions({}, { ETCD_ENDPOINTS: 'a:1,b:2' }).endpoints).toEqual(['a:1', 'b:2']);
    expect(resolveOptions({}, { ETCDCTL_ENDPOINTS: 'https://c:3' }).endpoints).toEqual(['https://c:3']);
    expect(resolveOptions({}, {}).endpoints).toEqual(['127.0.0.1:2379']);
  });

  it('rejects bad connect options before any request', () => {
    expect(() => resolveOptions({ endpoints: ['no-port'] }, {})).toThrow(/`endpoints`/);
    expect(() => resolveOptions({ endpoints: ['host:99999'] }, {})).toThrow(/`endpoints`/);
    expect(() => resolveOptions({ endpoints: [] }, {})).toThrow(/`endpoints`/);
    expect(() => resolveOptions({ ttlSeconds: 1 }, {})).toThrow(/`ttlSeconds`/);
    expect(() => resolveOptions({ dialTimeoutMs: 0 }, {})).toThrow(/`dialTimeoutMs`/);
    expect(() => resolveOptions({ namespace: 'a\0' }, {})).toThrow(/`namespace`/);
  });
});
