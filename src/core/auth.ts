import { castGrpcError, type Etcd3 } from 'etcd3';
import { prefixEnd } from './keys.js';
import { hasClassName } from './refused.js';

/**
 * True for the errors etcd gives when the auth token is missing, expired or revoked (a new token fixes
 * them), as opposed to a lack of permission (which no token fixes).
 */
export function isAuthTokenError(err: unknown): boolean {
  // Stream errors arrive as raw gRPC errors: give them etcd3's types first, as its unary calls do.
  const e = err instanceof Error ? castGrpcError(err) : err;
  // By class name, not instanceof: a client from another copy of etcd3 throws that copy's classes.
  return hasClassName(e, 'EtcdInvalidAuthTokenError') || hasClassName(e, 'GRPCUnauthenticatedError');
}

/**
 * True for etcd's "revision of auth store is old": the token was issued before the last change to users or
 * roles (with JWT tokens, which etcd cannot revoke, any RBAC change does this to every token). A new token
 * fixes it, but etcd3 has no type for it and does not renew on it, so it is recognised by its text.
 */
export function isAuthStaleError(err: unknown): boolean {
  return err instanceof Error && /revision of auth store is old/.test(err.message);
}

/**
 * True for etcd's "authentication is not enabled": the client sent a user name and password to an etcd
 * that has auth disabled, which refuses them (as it refuses `etcdctl --user`). A FAILED_PRECONDITION
 * without an etcd3 type, so recognised by its text.
 */
export function isAuthNotEnabledError(err: unknown): boolean {
  return err instanceof Error && /etcdserver: authentication is not enabled/.test(err.message);
}

/**
 * True for etcd's "user name is empty": auth is enabled on the server and the request carried neither a
 * token nor a client certificate. etcd3 has no type for it (it arrives as INVALID_ARGUMENT).
 */
export function isAuthRequiredError(err: unknown): boolean {
  return err instanceof Error && /etcdserver: user name is empty/.test(err.message);
}

/**
 * Drops the etcd3 client's cached auth token, so that its next request logs in again. etcd3 does this by
 * itself only after `EtcdInvalidAuthTokenError` and has no public API for it; this is the one place that
 * reaches into its internals (`pool.authenticator.invalidateMetadata()`, etcd3 1.x), guarded so that an
 * etcd3 without them only loses this recovery. Returns whether the token could be dropped.
 */
export function invalidateAuthToken(client: Etcd3): boolean {
  const pool = (client as unknown as { pool?: { authenticator?: { invalidateMetadata?: unknown } } }).pool;
  const authenticator = pool?.authenticator;
  if (typeof authenticator?.invalidateMetadata !== 'function') return false;
  (authenticator.invalidateMetadata as () => void).call(authenticator);
  return true;
}

/**
 * What a watch cancellation means. etcd reports a refused watch create only as text in `cancel_reason`
 * (there is no code field), e.g. `rpc error: code = Unauthenticated desc = etcdserver: invalid auth token`
 * when the stream's token expired, or `… code = PermissionDenied desc = etcdserver: permission denied`.
 */
export function watchCancelKind(reason: string): 'auth-token' | 'permission' | 'other' {
  if (/code = Unauthenticated|invalid auth token|revision of auth store is old/i.test(reason))
    return 'auth-token';
  if (/permission denied|user name is empty/i.test(reason)) return 'permission';
  return 'other';
}

function keyText(key: Buffer): string {
  let text = '';
  for (const byte of key) {
    text +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `"${text}"`;
}

/**
 * A key range as an error message shows it: `key "a/b"`, `prefix "a/"`, `keys from "a"` or `range ["a", "b")`.
 * Keys are full etcd keys (namespace included), as etcd's RBAC permissions are written.
 */
export function describeKeyRange(key: Buffer, end?: Buffer): string {
  if (end === undefined || end.length === 0) return `key ${keyText(key)}`;
  if (end.length === 1 && end[0] === 0)
    return key.length === 1 && key[0] === 0 ? 'every key' : `keys from ${keyText(key)}`;
  if (key.length > 0 && end.equals(prefixEnd(key))) return `prefix ${keyText(key)}`;
  return `range [${keyText(key)}, ${keyText(end)})`;
}

interface RefreshState {
  inFlight: Promise<void> | undefined;
  doneAt: number;
}

const refreshes = new WeakMap<Etcd3, RefreshState>();

/** A refresh that completed this recently counts for every caller: the token it fetched is still new. */
export const AUTH_REFRESH_MIN_INTERVAL_MS = 1000;

/**
 * Makes the etcd3 client fetch a fresh auth token, so that streams opened from now on carry it.
 *
 * Why this is needed: etcd3 caches its token and drops it only when a *unary* call fails with
 * `EtcdInvalidAuthTokenError` (it then authenticates again and retries that call once, see its
 * `ConnectionPool.exec`). Watch and lease-keepalive streams are opened with the cached token and never drop
 * it, so after the token expires (`--auth-token-ttl`) a reopened stream would carry the stale token for
 * ever. The refresh goes through the public path: one cheap unary call that etcd authenticates, a
 * serializable count-only range on `key`. Its outcome does not matter (a permission error on `key` is
 * answered only after a valid token), so this never rejects. A token etcd calls "old" (see
 * {@link isAuthStaleError}) does not make etcd3 log in again: it is dropped with {@link invalidateAuthToken}
 * and the read repeated.
 *
 * Concurrent callers share one call, and a refresh completed less than
 * {@link AUTH_REFRESH_MIN_INTERVAL_MS} ago is reused, so a burst of refused streams costs one request.
 */
export function refreshAuthToken(client: Etcd3, key: Buffer, timeoutMs = 5000): Promise<void> {
  let state = refreshes.get(client);
  if (!state) {
    state = { inFlight: undefined, doneAt: -Infinity };
    refreshes.set(client, state);
  }
  if (state.inFlight) return state.inFlight;
  if (performance.now() - state.doneAt < AUTH_REFRESH_MIN_INTERVAL_MS) return Promise.resolve();
  const s = state;
  const probe = () =>
    client.kv.range(
      { key, serializable: true, count_only: true, limit: '1' },
      { deadline: new Date(Date.now() + timeoutMs) },
    );
  s.inFlight = probe()
    .catch((err: unknown) => {
      if (isAuthStaleError(err) && invalidateAuthToken(client)) return probe();
      return undefined;
    })
    .then(
      () => undefined,
      () => undefined,
    )
    .finally(() => {
      s.inFlight = undefined;
      s.doneAt = performance.now();
    });
  return s.inFlight;
}
