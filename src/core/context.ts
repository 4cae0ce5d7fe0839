import type { Etcd3 } from 'etcd3';
import type { Keyspace } from './keys.js';
import type { Requester } from './rpc.js';
import type { Session, SessionOptions } from './session.js';
import type { WatchHub } from './watch-hub.js';

/** Anything a coordinator must release when it closes. */
export interface Closable {
  close(): Promise<void>;
}

/**
 * What a recipe needs from its coordinator. Recipes depend on this interface, not on the facade class,
 * so `core` never imports a recipe at runtime.
 */
export interface CoordContext {
  /** The etcd3 client. Keys given to it directly are *not* namespaced: build them with `keyspace`. */
  readonly client: Etcd3;
  readonly keyspace: Keyspace;
  readonly requester: Requester;
  readonly watchHub: WatchHub;
  /** The default session's TTL in seconds. */
  readonly ttlSeconds: number;
  /**
   * The default session, replaced by a new lease if the previous one was lost. The replacement is shared
   * and independent of any caller; `signal`/`timeoutMs` bound only this caller's wait for it.
   */
  currentSession(opts?: {
    signal?: AbortSignal | undefined;
    timeoutMs?: number | undefined;
  }): Promise<Session>;
  /** A separate lease with its own keepalive, closed with the coordinator unless closed before. */
  newSession(opts?: SessionOptions & { signal?: AbortSignal | undefined }): Promise<Session>;
  /** Registers a handle to be closed by `coord.close()`; returns a function that unregisters it. */
  track(resource: Closable): () => void;
  /** Aborted when the coordinator closes. */
  readonly closedSignal: AbortSignal;
}
