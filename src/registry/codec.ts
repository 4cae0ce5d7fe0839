import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../core/errors.js';
import type { KeyValue } from '../core/kv.js';
import { assertName, assertValueSize } from '../core/validate.js';

/** Free-form, JSON-serializable data published with an instance (version, zone, weight, …). */
export type ServiceMetadata = { [key: string]: JsonValue };

/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One instance of a service as discovery sees it. */
export interface ServiceInstance {
  /** The instance id: the last part of its key, `services/<service>/<id>`. */
  readonly id: string;
  /** `host:port` as registered (`Addr` in the stored JSON). */
  readonly address: string;
  /** The metadata published with the instance. */
  readonly metadata: ServiceMetadata;
  /** The lease the key is attached to (`0n` if written without one, e.g. by hand). */
  readonly leaseId: bigint;
  /** Revision of the last write to the instance's key (`mod_revision`). */
  readonly revision: bigint;
}

/** Key prefix of every instance of `service`, relative to the coordinator's namespace. */
export function servicePrefix(service: string): string {
  return `services/${service}/`;
}

/** A service name: non-empty, no NUL, no `/` (so one service's prefix never contains another's). */
export function assertServiceName(service: unknown): asserts service is string {
  assertName(service, 'service');
  if (service.includes('/')) throw new InvalidArgumentError('Expected `service` not to contain "/"');
}

/** An instance id: non-empty, no NUL, no `/`. */
export function assertInstanceId(id: unknown): asserts id is string {
  assertName(id, 'id');
  if (id.includes('/')) throw new InvalidArgumentError('Expected `id` not to contain "/"');
}

const ADDRESS = /^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/** `host:port`, `[ipv6]:port`, optionally with a scheme (`http://host:port`); the port in 1‥65535. */
export function assertAddress(address: unknown): asserts address is string {
  if (typeof address !== 'string')
    throw new TypeError(`Expected \`address\` to be a string, got ${typeof address}`);
  const port = Number(ADDRESS.exec(address)?.[1] ?? 0);
  if (port < 1 || port > 65535) {
    throw new InvalidArgumentError(
      `Expected \`address\` to be "host:port" with a port in 1‥65535, got ${JSON.stringify(address.slice(0, 80))}`,
    );
  }
}

/**
 * Metadata must be a plain object whose every value round-trips through JSON: no `undefined`, functions,
 * symbols, bigints, non-finite numbers, class instances or cycles (JSON.stringify would drop or throw).
 */
export function assertMetadata(metadata: unknown): asserts metadata is ServiceMetadata {
  const fail = (path: string, what: string): never => {
    throw new InvalidArgumentError(`Expected \`metadata\` to be JSON-serializable: ${path} is ${what}`);
  };
  const seen = new Set<object>();
  const visit = (v: unknown, path: string): void => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) fail(path, String(v));
      return;
    }
    if (typeof v !== 'object') return fail(path, `a ${typeof v}`);
    if (seen.has(v)) return fail(path, 'a circular reference');
    seen.add(v);
    if (Array.isArray(v)) v.forEach((item, i) => visit(item, `${path}[${i}]`));
    else {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null)
        fail(path, `an instance of ${v.constructor?.name ?? 'a class'}`);
      for (const [k, item] of Object.entries(v)) visit(item, `${path}.${k}`);
    }
    seen.delete(v);
  };
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new InvalidArgumentError('Expected `metadata` to be a plain object');
  }
  visit(metadata, 'metadata');
}

/** The stored value: etcd's `naming/endpoints` shape, `{"Addr": …, "Metadata": …}`. */
export function encodeInstance(address: string, metadata: ServiceMetadata, keyBytes: number): Buffer {
  const value = Buffer.from(JSON.stringify({ Addr: address, Metadata: metadata }));
  assertValueSize(value, 'metadata', keyBytes);
  return value;
}

/** Thrown (internally) and reported through discovery's `invalid` event for a value that is not an instance. */
export class InvalidInstanceError extends Error {
  constructor(
    message: string,
    /** The offending key, relative to the namespace. */
    readonly key: string,
    /** Its raw value. */
    readonly raw: Buffer,
  ) {
    super(message);
    this.name = 'InvalidInstanceError';
  }
}

/**
 * Decodes a key-value under `services/<service>/` (key relative to the namespace) into an instance.
 *
 * @throws InvalidInstanceError when the value is not JSON `{ "Addr": string, "Metadata"?: object }`
 */
export function decodeInstance(kv: KeyValue, prefixLength: number): ServiceInstance {
  const key = kv.key.toString();
  const id = key.slice(prefixLength);
  let parsed: unknown;
  try {
    parsed = JSON.parse(kv.value.toString());
  } catch {
    throw new InvalidInstanceError(`registry: value of "${key}" is not JSON`, key, kv.value);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidInstanceError(`registry: value of "${key}" is not a JSON object`, key, kv.value);
  }
  const { Addr, Metadata } = parsed as { Addr?: unknown; Metadata?: unknown };
  if (typeof Addr !== 'string' || Addr === '') {
    throw new InvalidInstanceError(`registry: value of "${key}" has no string "Addr"`, key, kv.value);
  }
  const md = Metadata ?? {};
  if (md === null || typeof md !== 'object' || Array.isArray(md)) {
    throw new InvalidInstanceError(`registry: "Metadata" of "${key}" is not an object`, key, kv.value);
  }
  return {
    id,
    address: Addr,
    metadata: md as ServiceMetadata,
    leaseId: kv.leaseId,
    revision: kv.modRevision,
  };
}

/** The default instance id: `<hostname>-<pid>-<6 random hex>`, with `/` in the hostname replaced by `_`. */
export function defaultInstanceId(): string {
  return `${hostname().replaceAll('/', '_') || 'host'}-${process.pid}-${randomBytes(3).toString('hex')}`;
}
