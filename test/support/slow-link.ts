/**
 * A TCP relay that models a slow (high-latency) link faithfully: every chunk, both ways, is delivered
 * `delayMs` after it was sent, in order, and a close is delivered only after the bytes sent before it
 * (TCP's FIN follows the data), unlike FaultProxy, which drops queued bytes when either side closes.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A relay to one etcd endpoint whose every byte arrives `delayMs` late.
 *
 * @example
 * ```ts
 * const link = await SlowLink.start(member.endpoint);
 * link.delayMs = 4000; // requests sent from now on reach etcd 4 s later, after the client timed out
 * ```
 *
 * Failure modes: a request the client gave up on is still delivered and applied (a late apply), which is
 * the point; `close()` destroys the sockets, dropping whatever is still queued.
 */
export class SlowLink {
  /** Delay of every chunk sent from now on, both ways. */
  delayMs = 0;
  readonly endpoint: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  private constructor(server: Server, port: number) {
    this.#server = server;
    this.endpoint = `127.0.0.1:${port}`;
  }
  /** Listens on a free local port and relays each connection to `target` (`host:port`). */
  static async start(target: string): Promise<SlowLink> {
    const [host, port] = [
      target.slice(0, target.lastIndexOf(':')),
      Number(target.slice(target.lastIndexOf(':') + 1)),
    ];
    const server = createServer({ noDelay: true });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no address');
    const link = new SlowLink(server, addr.port);
    server.on('connection', (client) => {
      const upstream = createConnection({ host, port, noDelay: true });
      link.#sockets.add(client).add(upstream);
      const pipe = (from: Socket, to: Socket) => {
        let tail = Promise.resolve();
        const later = (fn: () => void) => {
          const due = Date.now() + link.delayMs;
          tail = tail.then(async () => {
            const wait = due - Date.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            fn();
          });
        };
        from.on('data', (chunk: Buffer) =>
          later(() => {
            if (!to.destroyed) to.write(chunk);
          }),
        );
        from.on('end', () =>
          later(() => {
            if (!to.destroyed) to.end();
          }),
        );
        from.on('error', () => later(() => to.destroy()));
      };
      pipe(client, upstream);
      pipe(upstream, client);
      for (const s of [client, upstream]) s.on('close', () => link.#sockets.delete(s));
    });
    return link;
  }
  /** Stops listening and destroys every relayed connection. */
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((r) => this.#server.close(() => r()));
  }
}
