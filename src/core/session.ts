import { setMaxListeners } from 'node:events';
import { EventEmitter } from 'eventemitter3';
import type { Etcd3, ILeaseKeepAliveResponse } from 'etcd3';
import { isAuthTokenError, refreshAuthToken } from './auth.js';
import { detached } from './call-scope.js';
import { EndpointHealth } from './endpoints.js';
import { AbortedError, SessionExpiredError } from './errors.js';
import type { Requester } from './rpc.js';
import { assertInteger, assertTtlSeconds } from './validate.js';
import { headerRevision } from './kv.js';

/** Options for {@link Session}. */
export interface SessionOptions {
  /** Lease TTL in seconds, an integer ≥ 2 (etcd's minimum). Default 10. */
  ttlSeconds?: number;
  /** How often to send a keepalive. Default: a third of the TTL, at most 500 ms, so a lease revoked by someone else is noticed within half a second. */
  keepaliveIntervalMs?: number;
}

/** Events of a {@link Session}. */
export interface SessionEvents {
  /** The lease is gone, or may be: from here on nothing held under it can be trusted. Emitted once. */
  lost: [err: SessionExpiredError];
  /** A keepalive was acknowledged; `ttlSeconds` is what the server granted. */
  keepalive: [ttlSeconds: number];
}

interface KeepAliveStream {
  write(req: { ID: string }): boolean;
  on(event: 'data', fn: (res: ILeaseKeepAliveResponse) => void): KeepAliveStream;
  on(event: 'error' | 'end', fn: (err?: Error) => void): KeepAliveStream;
  removeAllListeners(): KeepAliveStream;
  cancel(): void;
}

/**
 * A lease kept alive in the background, shared by the recipes (like Go's `concurrency.Session`). Every
 * lock, campaign and registration made through it lives exactly as long as its lease.
 *
 * Loss is declared on this process's monotonic clock: when no keepalive has been acknowledged by
 * `sendTime + TTL − margin` of the last acknowledged send, the lease may already be gone on the server
 * side, so `signal` aborts and `lost` fires *before* the server can delete the session's keys.
 *
 * @example
 * ```ts
 * const session = await coord.newSession({ ttlSeconds: 5 });
 * session.on('lost', (err) => console.error('lease lost', err));
 * doWork({ signal: session.signal });
 * await session.close(); // revokes the lease: every key under it goes at once
 * ```
 *
 * Failure modes: etcd unreachable for longer than TTL − margin → `lost` (even if the lease would have
 * survived: the session cannot know); lease revoked by another client → `lost` at the next keepalive;
 * this process paused past the deadline → `lost` on resume. A lost session never comes back: make a new one.
 */
export class Session extends EventEmitter<SessionEvents> {
  /** The etcd lease every key made through this session is attached to. */
  readonly leaseId: bigint;
  /** The lease TTL granted by etcd, in seconds. */
  readonly ttlSeconds: number;
  /** Revision at which the lease was granted. */
  readonly grantRevision: bigint;
  readonly #client: Etcd3;
  readonly #requester: Requester;
  readonly #controller = new AbortController();
  readonly #intervalMs: number;
  readonly #marginMs: number;
  #deadline: number;
  #lossTimer: NodeJS.Timeout | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  #stream: KeepAliveStream | undefined;
  #opening = false;
  /** Send times of keepalives not yet acknowledged, oldest first (responses come in order on a stream). */
  #pending: number[] = [];
  #closing: Promise<void> | undefined;
  #leaseGone = false;

  /**
   * Grants a lease and starts keeping it alive.
   *
   * @throws InvalidArgumentError for a TTL below 2 s or a bad interval, before any request
   * @throws UnavailableError when etcd cannot be reached within the request deadline
   */
  static async grant(
    client: Etcd3,
    requester: Requester,
    opts: SessionOptions & { signal?: AbortSignal } = {},
  ): Promise<Session> {
    const ttlSeconds = opts.ttlSeconds ?? 10;
    assertTtlSeconds(ttlSeconds, 'ttlSeconds');
    const intervalMs = opts.keepaliveIntervalMs ?? Math.max(250, Math.min(500, (ttlSeconds * 1000) / 3));
    assertInteger(Math.round(intervalMs), 'keepaliveIntervalMs', 50, (ttlSeconds * 1000) / 2);
    const sentAt = performance.now();
    const res = await requester.run(
      'session: grant lease',
      (o) => client.leaseClient.leaseGrant({ TTL: ttlSeconds }, o),
      {
        signal: opts.signal,
        write: true,
        // Granted after the caller gave up: nobody will keep it alive, so free it now rather than at its TTL.
        onLate: (late) => {
          const id = (late as { ID?: string }).ID;
          if (id === undefined) return;
          requester
            .run('session: revoke abandoned lease', (o) => client.leaseClient.leaseRevoke({ ID: id }, o), {
              timeoutMs: 2000,
            })
            .catch(() => undefined);
        },
      },
    );
    if (res.error) throw new SessionExpiredError(`session: lease grant refused: ${res.error}`);
    return new Session(
      client,
      requester,
      BigInt(res.ID),
      Number(res.TTL),
      headerRevision(res.header),
      sentAt,
      intervalMs,
    );
  }

  private constructor(
    client: Etcd3,
    requester: Requester,
    leaseId: bigint,
    ttlSeconds: number,
    grantRevision: bigint,
    grantSentAt: number,
    intervalMs: number,
  ) {
    super();
    this.#client = client;
    this.#requester = requester;
    this.leaseId = leaseId;
    this.ttlSeconds = ttlSeconds;
    this.grantRevision = grantRevision;
    this.#intervalMs = intervalMs;
    // Room for timer lateness and GC pauses between our deadline and the server's expiry.
    this.#marginMs = Math.max(250, Math.min(1000, (ttlSeconds * 1000) / 4));
    // Every lock, campaign and waiter on this session listens here; many is normal, not a leak.
    setMaxListeners(0, this.#controller.signal);
    this.#deadline = grantSentAt + ttlSeconds * 1000 - this.#marginMs;
    // The keepalive outlives whichever call granted the lease: its timers must not carry that call's
    // deadline (see call-scope.ts).
    detached(() => {
      this.#armLossTimer();
      this.#scheduleTick(this.#intervalMs);
    });
  }

  /** Aborted once the lease is, or may be, lost, or the session is closed. The reason is a `CoordError`. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once the session is lost or closed. */
  get done(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Milliseconds until the session will be declared lost unless a keepalive is acknowledged. */
  get remainingMs(): number {
    return Math.max(0, this.#deadline - performance.now());
  }

  /**
   * Throws the session's loss reason if it is done, or if its monotonic deadline has passed: a process
   * resumed after a pause (SIGSTOP, a blocked event loop) runs what was in hand before its loss timer, and
   * the flag alone would still say "alive" on a lease the server may have expired. Declares the loss then
   * (`signal` aborts, `lost` is emitted) before throwing.
   */
  throwIfDone(): void {
    if (!this.done && performance.now() >= this.#deadline)
      this.#declareLost(`no keepalive acknowledged within the TTL of ${this.ttlSeconds} s`);
    if (this.done) throw this.#controller.signal.reason as Error;
  }

  /**
   * Declares the session lost because etcd answered a request with "lease not found" (revoked by an
   * operator, or expired): the keepalive would notice only at its next tick, and a caller that renews the
   * default session must not be handed this one again meanwhile.
   *
   * @internal
   */
  noteLeaseGone(): void {
    this.#leaseGone = true;
    this.#declareLost('etcd says the lease no longer exists');
  }

  /**
   * True once etcd itself said the lease is gone (a keepalive answered TTL 0, or a request "lease not
   * found") — not merely that contact was lost, when the server may still hold it.
   *
   * @internal
   */
  get leaseGone(): boolean {
    return this.#leaseGone;
  }

  /**
   * Stops the keepalives and revokes the lease, which deletes every key attached to it. Idempotent; never
   * rejects (a revoke that cannot reach etcd leaves the lease to expire by its TTL).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const wasLost = this.done;
      this.#stop(new AbortedError('session closed'));
      if (wasLost) return this.#revokeQuietly();
      await this.#revokeQuietly();
    })();
    return this.#closing;
  }

  /** The same as {@link Session.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #revokeQuietly(): Promise<void> {
    try {
      // Short: close() must finish promptly even when etcd is unreachable.
      await this.#requester.run(
        'session: revoke lease',
        (o) => this.#client.leaseClient.leaseRevoke({ ID: this.leaseId.toString() }, o),
        { timeoutMs: 2000 },
      );
    } catch {
      // Unreachable or already gone: the lease expires by its TTL either way.
    }
  }

  #declareLost(why: string): void {
    if (this.done) return;
    const err = new SessionExpiredError(`session ${this.leaseId.toString(16)}: ${why}`);
    this.#stop(err);
    this.emit('lost', err);
    // The server may still hold the lease (we only lost contact); revoking frees its keys sooner if it can.
    void this.#revokeQuietly();
  }

  #stop(reason: Error): void {
    if (this.#lossTimer) clearTimeout(this.#lossTimer);
    if (this.#tickTimer) clearTimeout(this.#tickTimer);
    this.#lossTimer = this.#tickTimer = undefined;
    this.#dropStream();
    if (!this.done) this.#controller.abort(reason);
  }

  #armLossTimer(): void {
    if (this.#lossTimer) clearTimeout(this.#lossTimer);
    const wait = this.#deadline - performance.now();
    if (wait <= 0)
      return this.#declareLost(`no keepalive acknowledged within the TTL of ${this.ttlSeconds} s`);
    this.#lossTimer = setTimeout(() => this.#armLossTimer(), wait);
  }

  #scheduleTick(ms: number): void {
    if (this.done) return;
    if (this.#tickTimer) clearTimeout(this.#tickTimer);
    this.#tickTimer = setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    this.#tickTimer = undefined;
    if (this.done) return;
    const oldest = this.#pending[0];
    // A keepalive unanswered for two intervals means the stream is stuck (e.g. a blackholed connection):
    // start a new one rather than wait for gRPC to notice.
    if (oldest !== undefined && performance.now() - oldest > 2 * this.#intervalMs) {
      // Its member may be paused with its connection READY: back it off, so the new stream goes elsewhere.
      if (this.#stream) EndpointHealth.suspect(this.#stream);
      this.#dropStream();
    }
    try {
      const stream = await this.#openStream();
      if (stream && !this.done) {
        this.#pending.push(performance.now());
        stream.write({ ID: this.leaseId.toString() });
      }
    } catch {
      // etcd unreachable: keep trying every interval; the loss timer decides when the session is gone.
      this.#dropStream();
    }
    this.#scheduleTick(this.#stream ? this.#intervalMs : Math.min(this.#intervalMs, 250));
  }

  async #openStream(): Promise<KeepAliveStream | undefined> {
    if (this.#stream || this.#opening) return this.#stream;
    this.#opening = true;
    try {
      const stream = (await this.#client.leaseClient.leaseKeepAlive()) as unknown as KeepAliveStream;
      if (this.done) {
        stream.cancel();
        return undefined;
      }
      stream
        .on('data', (res) => this.#onAck(stream, res))
        .on('error', (err) => {
          // etcd 3.4 does not check the token on keepalives, but a server that does would end the stream
          // with an auth error, and etcd3 would reopen it with the same stale token: refresh it first
          // (deduplicated and rate-limited per client, see refreshAuthToken).
          if (isAuthTokenError(err)) void refreshAuthToken(this.#client, Buffer.from([0]));
          this.#onBroken(stream);
        })
        .on('end', () => this.#onBroken(stream));
      this.#stream = stream;
      this.#pending = [];
      return stream;
    } finally {
      this.#opening = false;
    }
  }

  #onAck(stream: KeepAliveStream, res: ILeaseKeepAliveResponse): void {
    if (stream !== this.#stream || this.done) return;
    const sentAt = this.#pending.shift();
    const ttl = Number(res.TTL);
    if (ttl <= 0) {
      this.#leaseGone = true;
      return this.#declareLost('the lease was revoked or has expired');
    }
    if (sentAt === undefined) return;
    // The server renewed the lease for `ttl` seconds from some moment after we sent: measuring from the send
    // keeps our deadline before the server's, whatever the network delay.
    const deadline = sentAt + ttl * 1000 - this.#marginMs;
    if (deadline > this.#deadline) this.#deadline = deadline;
    this.#armLossTimer();
    if (!this.done) this.emit('keepalive', ttl);
  }

  #onBroken(stream: KeepAliveStream): void {
    if (stream !== this.#stream) return;
    this.#dropStream();
    if (!this.done) this.#scheduleTick(Math.min(this.#intervalMs, 100));
  }

  #dropStream(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    this.#pending = [];
    if (stream) {
      stream.removeAllListeners();
      // A cancelled gRPC stream still emits 'error'; keep a listener so it is not unhandled.
      stream.on('error', () => undefined);
      stream.cancel();
    }
  }
}
