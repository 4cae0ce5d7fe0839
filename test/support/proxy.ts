/**
 * A TCP fault proxy between one client and one etcd endpoint: forward, delay, blackhole or reset
 * that client's traffic without touching etcd or other clients.
 *
 * @example
 * const proxy = await FaultProxy.start(cluster.endpoints[0]!);
 * const client = cluster.client({ endpoints: [proxy.endpoint] });
 * proxy.blackhole();              // requests now hang until their deadline
 * proxy.pass();                   // blackholed connections are dropped; the client reconnects
 * proxy.dropReplies();            // requests reach etcd and apply; the answers never come back
 * await proxy.close();
 *
 * @module
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the proxy does with bytes: forward them, forward them late, or drop them. */
export type ProxyMode = 'pass' | 'delay' | 'blackhole' | 'drop-replies';

/** One direction of a proxied connection, with its own ordered queue for delayed chunks. */
interface Pipe {
  readonly from: Socket;
  readonly to: Socket;
  /** Tail of the chain of delayed writes; later chunks wait on it, which preserves order. */
  queue: Promise<void>;
  pending: number;
}

interface Connection {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** Bytes were dropped on this connection: its streams are corrupt and it must not be reused. */
  blackholed: boolean;
  /** Only etcd's answers are dropped on this connection (the requests still reach etcd). */
  repliesDropped: boolean;
}

function parseTarget(target: string): { host: string; port: number } {
  const at = target.lastIndexOf(':');
  const port = Number(target.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new TypeError(`Expected \`target\` as 'host:port', got '${target}'`);
  }
  return { host: target.slice(0, at).replace(/^\[|\]$/g, ''), port };
}

/** See the module doc. Modes apply to existing and new connections alike. */
export class FaultProxy {
  readonly #server: Server;
  readonly #connections = new Set<Connection>();
  #target: { host: string; port: number };
  #mode: ProxyMode = 'pass';
  #delayMs = 0;
  #bytesForwarded = 0;
  #closing: Promise<void> | undefined;

  /** '127.0.0.1:PORT': the address to give the client instead of the etcd endpoint. */
  readonly endpoint: string;

  private constructor(server: Server, target: { host: string; port: number }, port: number) {
    this.#server = server;
    this.#target = target;
    this.endpoint = `127.0.0.1:${port}`;
    server.on('connection', (socket) => this.#accept(socket));
  }

  /**
   * Listens on 127.0.0.1 (`listenPort`, default a free port) and forwards to `target`.
   *
   * @throws {TypeError} if `target` is not 'host:port'.
   */
  static async start(target: string, opts: { listenPort?: number } = {}): Promise<FaultProxy> {
    const parsed = parseTarget(target);
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.listenPort ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    return new FaultProxy(server, parsed, address.port);
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  /** Open client connections (including blackholed ones). */
  get connections(): number {
    return this.#connections.size;
  }

  /** Bytes written onward, both directions together. */
  get bytesForwarded(): number {
    return this.#bytesForwarded;
  }

  /** Forward normally. Connections that were blackholed are destroyed so clients reconnect at once. */
  pass(): void {
    this.#setMode('pass', 0);
  }

  /** Forward every chunk, both directions, `ms` after it arrived, in order. */
  delay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`Expected \`ms\` to be ≥ 0, got ${ms}`);
    this.#setMode('delay', ms);
  }

  /**
   * Keep every TCP connection (existing and new) open but drop every byte both ways; new
   * connections are accepted and never connected upstream.
   */
  blackhole(): void {
    this.#setMode('blackhole', 0);
    for (const conn of this.#connections) conn.blackholed = true;
  }

  /**
   * Forward every request to etcd but drop every byte etcd sends back, on existing and new connections:
   * a write applies while its client sees only a timeout — the "unknown outcome" of a lost reply.
   * `pass()` then destroys those connections (their streams lost data mid-frame) so the client redials.
   */
  dropReplies(): void {
    this.#setMode('drop-replies', 0);
    for (const conn of this.#connections) conn.repliesDropped = true;
  }

  /** Destroy every current connection (RST), keeping the mode; new connections work as before. */
  reset(): void {
    for (const conn of this.#connections) this.#destroy(conn);
  }

  /** New connections go to `target`; existing ones keep their upstream. */
  retarget(target: string): void {
    this.#target = parseTarget(target);
  }

  /** Stops listening and destroys every connection; idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.reset();
    });
    return this.#closing;
  }

  #setMode(mode: ProxyMode, delayMs: number): void {
    if (this.#mode !== mode && (this.#mode === 'blackhole' || this.#mode === 'drop-replies')) {
      // Their byte streams lost data mid-frame: HTTP/2 cannot recover, so make the client redial.
      for (const conn of this.#connections) if (conn.blackholed || conn.repliesDropped) this.#destroy(conn);
    }
    this.#mode = mode;
    this.#delayMs = delayMs;
  }

  #accept(client: Socket): void {
    const conn: Connection = {
      client,
      upstream: undefined,
      blackholed: this.#mode === 'blackhole',
      repliesDropped: this.#mode === 'drop-replies',
    };
    this.#connections.add(conn);
    client.on('error', () => this.#destroy(conn));
    client.on('close', () => this.#destroy(conn));
    if (conn.blackholed) {
      client.on('data', () => {}); // read and drop, so the client's writes never block
      return;
    }
    const upstream = createConnection({ ...this.#target, noDelay: true });
    conn.upstream = upstream;
    upstream.on('error', () => this.#destroy(conn));
    upstream.on('close', () => this.#destroy(conn));
    this.#forward(conn, { from: client, to: upstream, queue: Promise.resolve(), pending: 0 }, false);
    this.#forward(conn, { from: upstream, to: client, queue: Promise.resolve(), pending: 0 }, true);
  }

  #forward(conn: Connection, pipe: Pipe, isReply: boolean): void {
    pipe.from.on('data', (chunk: Buffer) => {
      if (this.#mode === 'blackhole') conn.blackholed = true;
      if (this.#mode === 'drop-replies') conn.repliesDropped = true;
      if (conn.blackholed || (isReply && conn.repliesDropped)) return;
      const delayMs = this.#delayMs;
      if (delayMs === 0 && pipe.pending === 0) {
        this.#write(conn, pipe, chunk);
        return;
      }
      // Chained so a chunk never overtakes an earlier one, even when the delay changes.
      const due = Date.now() + delayMs;
      pipe.pending++;
      pipe.queue = pipe.queue.then(async () => {
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        pipe.pending--;
        this.#write(conn, pipe, chunk);
      });
    });
  }

  #write(conn: Connection, pipe: Pipe, chunk: Buffer): void {
    if (conn.blackholed || pipe.to.destroyed) return;
    this.#bytesForwarded += chunk.length;
    if (!pipe.to.write(chunk) && !pipe.from.isPaused()) {
      // Backpressure: stop reading until the slow side drains, so memory stays bounded.
      pipe.from.pause();
      pipe.to.once('drain', () => pipe.from.resume());
    }
  }

  #destroy(conn: Connection): void {
    if (!this.#connections.delete(conn)) return;
    // resetAndDestroy sends RST (the peer sees ECONNRESET, as when a host dies), not a clean FIN.
    for (const socket of [conn.client, conn.upstream]) {
      if (socket === undefined || socket.destroyed) continue;
      if (socket.readyState === 'open') socket.resetAndDestroy();
      else socket.destroy();
    }
  }
}
