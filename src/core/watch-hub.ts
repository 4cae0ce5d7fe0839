import { EtcdAuthenticationFailedError, type Etcd3, type IWatchResponse } from 'etcd3';
import { EventEmitter } from 'eventemitter3';
import { describeKeyRange, refreshAuthToken, watchCancelKind } from './auth.js';
import { detached } from './call-scope.js';
import { Backoff } from './backoff.js';
import {
  AbortedError,
  CompactedError,
  PermissionDeniedError,
  UnavailableError,
  toCoordError,
} from './errors.js';
import { EndpointHealth } from './endpoints.js';
import { StoreResetError, type EpochMarker } from './epoch.js';
import { headerRevision, toKeyValue, type KeyValue } from './kv.js';

/** One change to one key. Keys are full etcd keys (namespace included). */
export interface WatchEvent {
  /** Whether the key was written or deleted. */
  type: 'put' | 'delete';
  /** The key after the event (for a delete: the key, empty value, the delete's mod revision). */
  kv: KeyValue;
  /** The key before this event, when the watch asked for `prevKv` and it was not compacted. */
  prevKv?: KeyValue | undefined;
}

/** Every event of one revision (one txn), in the order etcd applied them. */
export interface WatchBatch {
  /** The revision these events happened at. */
  revision: bigint;
  /** The events of that revision, in order. */
  events: WatchEvent[];
}

/** What a subscriber is told. Handlers run synchronously on the stream: keep them short. */
export interface WatchHandlers {
  /** One call per revision, in revision order, none skipped or repeated while the subscription lives. */
  onBatch(batch: WatchBatch): void;
  /**
   * History needed to resume was compacted while disconnected: events were missed. The subscription is
   * closed; re-read the range and subscribe again. A {@link StoreResetError} (a `CompactedError`) when the
   * store itself was reset (see {@link WatchHubEvents.reset}).
   */
  onCompacted?(err: CompactedError): void;
  /** etcd cancelled the watch for another reason (e.g. permission denied). The subscription is closed. */
  onError?(err: Error): void;
}

/** The key range to watch: one key, or `[key, end)`. */
export interface WatchRange {
  key: Buffer;
  end?: Buffer | undefined;
  /** Deliver events from this revision on (inclusive). Omit for "from now", which shares one etcd watcher. */
  startRevision?: bigint | undefined;
  prevKv?: boolean | undefined;
}

/** A live subscription. `close()` is idempotent and cancels the etcd watcher when its last subscriber leaves. */
export interface WatchSubscription {
  /**
   * Resolves with a revision R once every event with a revision above R (or from `startRevision`) is sure
   * to be delivered. Read the range after this resolves and apply only events above your read's revision.
   */
  readonly ready: Promise<bigint>;
  close(): void;
}

interface Subscriber {
  handlers: WatchHandlers;
  resolveReady: (rev: bigint) => void;
  rejectReady: (err: Error) => void;
  readySettled: boolean;
}

interface Watcher {
  id: number;
  shareKey: string | undefined;
  key: Buffer;
  end: Buffer | undefined;
  prevKv: boolean;
  /** Every event up to this revision has been delivered; resume from the next one. `undefined`: not yet created. */
  delivered: bigint | undefined;
  startRevision: bigint | undefined;
  subscribers: Set<Subscriber>;
  /** Creates refused for a stale auth token since this watcher was last created (bounded by MAX_AUTH_RETRIES). */
  authRetries: number;
}

/** How often one watcher's create may be refused for its token (each time after re-authenticating) before it fails. */
const MAX_AUTH_RETRIES = 4;

interface WatchStream {
  write(req: unknown): boolean;
  on(event: 'data', fn: (res: IWatchResponse) => void): WatchStream;
  on(event: 'error' | 'end', fn: (err?: Error) => void): WatchStream;
  removeAllListeners(): WatchStream;
  cancel(): void;
}

/** Events of the coordinator's watch hub (`coord.watchHub`). */
export interface WatchHubEvents {
  /**
   * The store followed is not the history already delivered (etcd restarted empty, or was restored from an
   * older snapshot). Every watcher that had delivered something was ended with a {@link StoreResetError};
   * `revision` is the new store's revision when it was noticed.
   */
  reset: [
    info: {
      /** The new store's revision when the reset was noticed. */
      revision: bigint;
      /** The error every affected watcher ended with. */
      error: StoreResetError;
    },
  ];
}

/**
 * One etcd watch stream per client, multiplexing every watch of a coordinator. Watches from "now" on the
 * same range share one etcd watcher, so a thousand waiters on one lock or config prefix cost one watcher.
 * After a broken stream every watcher resumes from the revision after the last one it delivered, so no
 * event is lost or repeated; history compacted in the meantime is reported, never skipped silently.
 *
 * A stream that stops answering (a blackholed connection keeps TCP open) is detected by a progress
 * request every `livenessMs` and replaced.
 *
 * A store reset is noticed on every (re)connect, before any watcher resumes: by the generation marker
 * ({@link EpochMarker}: gone or changed, whatever the revisions), and by the revision check (the store is
 * behind what was delivered). Then every watcher that had delivered something ends with a
 * {@link StoreResetError} (its subscribers re-read) and the hub emits `reset`.
 *
 * @example
 * ```ts
 * const sub = coord.watchHub.watch({ key, end }, { onBatch, onCompacted: (err) => reread(err) });
 * await sub.ready;
 * coord.watchHub.on('reset', ({ revision }) => log.warn(`etcd was reset; now at ${revision}`));
 * ```
 *
 * Failure modes: a restore from a snapshot taken after the marker was written, already past the revisions
 * delivered when the hub reconnects, is not noticed (see {@link EpochMarker}). While etcd is unreachable,
 * subscribers wait (their `ready` stays pending): callers bound it with their own deadline.
 */
export class WatchHub extends EventEmitter<WatchHubEvents> {
  readonly #client: Etcd3;
  readonly #livenessMs: number;
  /** Every watcher with at least one subscriber, connected or not. */
  readonly #all = new Set<Watcher>();
  /** Watchers created on the current stream, by their watch id. */
  readonly #byId = new Map<number, Watcher>();
  readonly #shared = new Map<string, Watcher>();
  /** Watchers whose create request is in flight, in request order (etcd answers creates in order). */
  #creating: Watcher[] = [];
  #stream: WatchStream | undefined;
  #connecting = false;
  #nextId = 1;
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #livenessTimer: NodeJS.Timeout | undefined;
  #lastHeard = performance.now();
  #reconnects = 0;
  readonly #backoff = new Backoff(50, 2000);
  /** Spaces out re-authentications, so a token that keeps being refused never makes a tight loop. */
  readonly #authBackoff = new Backoff(100, 5000);
  #reauthTimer: NodeJS.Timeout | undefined;
  readonly #epoch: EpochMarker | undefined;
  /**
   * The marker said "reset" on a stream that broke before it was used. The marker now remembers the new
   * store's value, so the next check says "same": the reset is kept here and declared on the next stream.
   */
  #resetPending = false;
  #resets = 0;

  constructor(client: Etcd3, opts: { livenessMs?: number; epoch?: EpochMarker } = {}) {
    super();
    this.#client = client;
    this.#livenessMs = opts.livenessMs ?? 5000;
    this.#epoch = opts.epoch;
  }

  /** How many store resets were noticed (for tests and metrics). */
  get resets(): number {
    return this.#resets;
  }

  /** How many times a broken stream was replaced (for tests and metrics). */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Number of etcd watchers currently open (shared ones count once). */
  get watcherCount(): number {
    return this.#all.size;
  }

  /** Subscribes to changes in a key range. See {@link WatchRange} and {@link WatchSubscription}. */
  watch(range: WatchRange, handlers: WatchHandlers): WatchSubscription {
    if (this.#closed) {
      return {
        ready: Promise.reject(new AbortedError('watch: the coordinator is closed')),
        close: () => undefined,
      };
    }
    let sub!: Subscriber;
    const ready = new Promise<bigint>((resolve, reject) => {
      sub = { handlers, resolveReady: resolve, rejectReady: reject, readySettled: false };
    });
    ready.catch(() => undefined);
    const shareKey =
      range.startRevision === undefined
        ? `${range.key.toString('hex')}:${range.end?.toString('hex') ?? ''}:${range.prevKv ? 1 : 0}`
        : undefined;
    let watcher = shareKey === undefined ? undefined : this.#shared.get(shareKey);
    if (watcher) {
      watcher.subscribers.add(sub);
      if (watcher.delivered !== undefined) this.#settleReady(sub, watcher.delivered);
    } else {
      watcher = {
        id: 0,
        shareKey,
        key: range.key,
        end: range.end,
        prevKv: range.prevKv ?? false,
        delivered: range.startRevision === undefined ? undefined : range.startRevision - 1n,
        startRevision: range.startRevision,
        subscribers: new Set([sub]),
        authRetries: 0,
      };
      if (shareKey !== undefined) this.#shared.set(shareKey, watcher);
      this.#create(watcher);
    }
    const w = watcher;
    return {
      ready,
      close: () => this.#unsubscribe(w, sub),
    };
  }

  /** Cancels every watcher and closes the stream. Subscribers are not notified. */
  close(): void {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    if (this.#reauthTimer) clearTimeout(this.#reauthTimer);
    if (this.#livenessTimer) clearInterval(this.#livenessTimer);
    // Subscribers hear of it, so nobody waits for ever on a watch that will never deliver again.
    const subs = [...this.#all].flatMap((w) => [...w.subscribers]);
    this.#all.clear();
    this.#byId.clear();
    this.#shared.clear();
    this.#creating = [];
    this.#dropStream();
    for (const sub of subs) {
      const err = new AbortedError('watch: the coordinator is closed');
      sub.rejectReady(err);
      sub.handlers.onError?.(err);
    }
  }

  #settleReady(sub: Subscriber, rev: bigint): void {
    if (sub.readySettled) return;
    sub.readySettled = true;
    sub.resolveReady(rev);
  }

  #unsubscribe(w: Watcher, sub: Subscriber): void {
    if (!w.subscribers.delete(sub)) return;
    sub.rejectReady(new UnavailableError('watch: closed before it was ready'));
    if (w.subscribers.size > 0) return;
    this.#forget(w);
    if (w.id !== 0 && this.#stream) this.#stream.write({ cancel_request: { watch_id: w.id } });
    w.id = 0;
  }

  #forget(w: Watcher): void {
    if (w.shareKey !== undefined && this.#shared.get(w.shareKey) === w) this.#shared.delete(w.shareKey);
    this.#all.delete(w);
    this.#byId.delete(w.id);
    // Stays in #creating: etcd answers creates in order, and the answer for it still has to be matched.
  }

  #create(w: Watcher): void {
    this.#all.add(w);
    const stream = this.#ensureStream();
    if (stream) this.#sendCreate(stream, w);
  }

  #sendCreate(stream: WatchStream, w: Watcher): void {
    w.id = this.#nextId++;
    this.#byId.set(w.id, w);
    this.#creating.push(w);
    const start = w.delivered === undefined ? undefined : w.delivered + 1n;
    stream.write({
      create_request: {
        key: w.key,
        ...(w.end ? { range_end: w.end } : {}),
        ...(start !== undefined ? { start_revision: start.toString() } : {}),
        prev_kv: w.prevKv,
        watch_id: w.id,
      },
    });
  }

  #ensureStream(): WatchStream | undefined {
    if (this.#stream || this.#connecting || this.#closed || this.#reconnectTimer) return this.#stream;
    this.#connecting = true;
    // The stream is shared: what runs on it (the marker check, subscribers' handlers and the re-reads they
    // start, reconnect timers) must not carry the deadline of whichever call happened to open it.
    detached(() => this.#open());
    return undefined;
  }

  #open(): void {
    this.#client.watchClient.watch().then(
      (raw) => {
        const stream = raw as unknown as WatchStream;
        if (this.#closed) {
          this.#connecting = false;
          return stream.cancel();
        }
        // Still "connecting" until the marker is checked: a watch subscribed meanwhile waits for the creates.
        void this.#verify(stream);
      },
      (err: unknown) => {
        this.#connecting = false;
        // etcd3 authenticates before opening the stream: wrong credentials (a changed password, a deleted
        // user) do not fix themselves, so every subscriber is told instead of waiting in a reconnect loop.
        if (err instanceof EtcdAuthenticationFailedError) return this.#failAll(toCoordError(err, 'watch'));
        this.#scheduleReconnect();
      },
    );
  }

  /**
   * Checks the generation marker before any watcher resumes on `stream`: a watcher resumed on a reset store
   * would get a different history's events (or wait for revisions that mean something else).
   */
  async #verify(stream: WatchStream): Promise<void> {
    let broken = false;
    stream.on('error', () => (broken = true)).on('end', () => (broken = true));
    let check: Awaited<ReturnType<EpochMarker['check']>> | undefined;
    try {
      check = this.#epoch ? await this.#epoch.check() : 'unsupported';
    } catch {
      check = undefined;
    }
    this.#connecting = false;
    if (check === 'reset') this.#resetPending = true;
    if (this.#closed || broken || check === undefined) {
      stream.removeAllListeners();
      stream.on('error', () => undefined);
      stream.cancel();
      if (!this.#closed) {
        this.#reconnects++;
        this.#scheduleReconnect();
      }
      return;
    }
    stream.removeAllListeners();
    stream
      .on('data', (res) => detached(() => this.#onResponse(stream, res)))
      .on('error', () => detached(() => this.#onBroken(stream)))
      .on('end', () => detached(() => this.#onBroken(stream)));
    this.#stream = stream;
    this.#lastHeard = performance.now();
    this.#startLiveness();
    this.#creating = [];
    // Taken before the reset is declared: its handlers subscribe again, and those are sent on the live stream
    // already (sending them again here would leave a second etcd watcher nobody cancels).
    const resume = [...this.#all];
    // A reset seen by an earlier check whose stream broke is still pending: declare it before anything resumes.
    if (this.#resetPending) {
      this.#resetPending = false;
      this.#declareReset(0n, 'its generation marker is gone or changed');
    }
    // Only now: a check thrown away above (broken stream) must report the same reset on the next connect.
    this.#epoch?.adopt();
    // Everything still open resumes after the last revision it delivered (or starts from now).
    for (const w of resume) if (this.#all.has(w) && w.id === 0) this.#sendCreate(stream, w);
  }

  /**
   * Ends every watcher that delivered something with a {@link StoreResetError}: nothing it knows can be
   * resumed. Watchers that never delivered (nothing to resume) carry on from now.
   */
  #declareReset(revision: bigint, why: string): void {
    this.#resets++;
    const error = new StoreResetError(
      `watch: the etcd store was reset (${why}); revisions started over, re-read`,
      revision,
    );
    for (const w of [...this.#all]) {
      if (w.delivered === undefined) continue;
      if (w.id !== 0) this.#stream?.write({ cancel_request: { watch_id: w.id } });
      this.#forget(w);
      w.id = 0;
      const subs = [...w.subscribers];
      w.subscribers.clear();
      for (const sub of subs) {
        sub.rejectReady(error);
        sub.handlers.onCompacted?.(error);
      }
    }
    this.emit('reset', { revision, error });
  }

  #failAll(err: Error): void {
    for (const w of [...this.#all]) {
      this.#forget(w);
      const subs = [...w.subscribers];
      w.subscribers.clear();
      for (const sub of subs) {
        sub.rejectReady(err);
        sub.handlers.onError?.(err);
      }
    }
  }

  #startLiveness(): void {
    if (this.#livenessTimer) return;
    this.#livenessTimer = setInterval(() => {
      const stream = this.#stream;
      if (!stream || this.#all.size === 0) return;
      if (performance.now() - this.#lastHeard > 2 * this.#livenessMs) {
        EndpointHealth.suspect(stream); // its member may be paused: reconnect to another one
        return this.#onBroken(stream);
      }
      stream.write({ progress_request: {} });
    }, this.#livenessMs);
    this.#livenessTimer.unref();
  }

  #onBroken(stream: WatchStream): void {
    if (stream !== this.#stream) return;
    this.#reconnects++;
    this.#dropStream();
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (this.#all.size > 0) this.#ensureStream();
    }, this.#backoff.next());
  }

  #dropStream(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    this.#creating = [];
    if (this.#livenessTimer) clearInterval(this.#livenessTimer);
    this.#livenessTimer = undefined;
    // Watch ids belong to a stream; the next stream creates every watcher again under a fresh id.
    this.#byId.clear();
    for (const w of this.#all) w.id = 0;
    if (stream) {
      stream.removeAllListeners();
      stream.on('error', () => undefined);
      stream.cancel();
    }
  }

  #onResponse(stream: WatchStream, res: IWatchResponse): void {
    if (stream !== this.#stream) return;
    this.#lastHeard = performance.now();
    this.#backoff.reset();
    if (res.created) return this.#onCreated(res);
    const w = this.#byId.get(Number(res.watch_id));
    if (!w) return; // a progress response (-1) or late events of a cancelled watcher
    if (res.canceled) return this.#onCanceled(w, res);
    if (res.events.length > 0) this.#deliver(w, res);
  }

  #onCreated(res: IWatchResponse): void {
    const w = this.#creating.shift();
    // A watcher closed before its create was answered was cancelled right behind the create request.
    if (!w || !this.#all.has(w)) return;
    if (res.canceled) return this.#onCanceled(w, res);
    const current = headerRevision(res.header);
    if (w.delivered !== undefined && current > 0n && current < w.delivered) {
      // The store is behind what was already delivered: etcd restarted without its data (or this is another
      // cluster). Resuming would wait for revisions of a different history; make subscribers re-read instead.
      return this.#declareReset(
        current,
        `its revision ${current} is behind the ${w.delivered} already delivered`,
      );
    }
    if (w.delivered === undefined) w.delivered = current;
    if (w.authRetries > 0) {
      w.authRetries = 0;
      this.#authBackoff.reset();
    }
    for (const sub of w.subscribers) this.#settleReady(sub, w.delivered);
  }

  #onCanceled(w: Watcher, res: IWatchResponse): void {
    const reason = res.cancel_reason || 'cancelled by etcd';
    const kind = watchCancelKind(reason);
    if (
      kind === 'auth-token' &&
      BigInt(res.compact_revision || 0) === 0n &&
      w.authRetries < MAX_AUTH_RETRIES
    ) {
      return this.#retryAfterReauth(w);
    }
    this.#forget(w);
    const compactRevision = BigInt(res.compact_revision || 0);
    const subs = [...w.subscribers];
    w.subscribers.clear();
    for (const sub of subs) {
      if (compactRevision > 0n) {
        const err = new CompactedError(
          `watch: revision ${String((w.delivered ?? 0n) + 1n)} was compacted (compact revision ${compactRevision})`,
          compactRevision,
        );
        sub.rejectReady(err);
        sub.handlers.onCompacted?.(err);
      } else {
        const what = `watch on ${describeKeyRange(w.key, w.end)}`;
        const err =
          kind === 'permission'
            ? new PermissionDeniedError(`${what}: permission denied by etcd (${reason})`)
            : kind === 'auth-token'
              ? new PermissionDeniedError(
                  `${what}: etcd refused the auth token ${w.authRetries + 1} times, each after re-authenticating (${reason})`,
                )
              : new UnavailableError(`${what}: ${reason}`);
        sub.rejectReady(err);
        sub.handlers.onError?.(err);
      }
    }
  }

  /**
   * The stream's auth token expired (etcd checks it on every watch create, with the token the stream was
   * opened with, while watchers created earlier keep delivering). etcd3 never refreshes a stream's token, so:
   * refresh it through a unary call, then replace the stream; every watcher resumes after the last revision
   * it delivered, as after any break. One refresh serves every watcher refused meanwhile, refreshes are
   * spaced by a back-off, and a watcher refused {@link MAX_AUTH_RETRIES} times in a row fails.
   */
  #retryAfterReauth(w: Watcher): void {
    w.authRetries++;
    this.#byId.delete(w.id);
    w.id = 0;
    if (this.#reauthTimer) return;
    this.#reauthTimer = setTimeout(() => {
      void refreshAuthToken(this.#client, w.key).then(() => {
        this.#reauthTimer = undefined;
        if (this.#closed) return;
        const stream = this.#stream;
        if (stream) {
          this.#reconnects++;
          this.#dropStream();
        }
        if (this.#all.size > 0) this.#ensureStream();
      });
    }, this.#authBackoff.next());
  }

  #deliver(w: Watcher, res: IWatchResponse): void {
    let batch: WatchBatch | undefined;
    const flush = () => {
      if (!batch) return;
      const b = batch;
      batch = undefined;
      w.delivered = b.revision;
      for (const sub of [...w.subscribers]) {
        try {
          sub.handlers.onBatch(b);
        } catch (err) {
          sub.handlers.onError?.(err as Error);
        }
      }
    };
    for (const raw of res.events) {
      const kv = toKeyValue(raw.kv);
      // Never deliver a revision twice, whatever a resumed watcher replays.
      if (w.delivered !== undefined && kv.modRevision <= w.delivered) continue;
      if (batch && batch.revision !== kv.modRevision) flush();
      batch ??= { revision: kv.modRevision, events: [] };
      batch.events.push({
        type: raw.type === 'Delete' ? 'delete' : 'put',
        kv,
        prevKv: raw.prev_kv ? toKeyValue(raw.prev_kv) : undefined,
      });
    }
    flush();
  }
}
