/**
 * Short-lived, isolated etcd3 clients for the harness's own health and leader checks, and a
 * free-port finder.
 *
 * Why not reuse one long-lived client: etcd3's default fault handling opens a per-host circuit
 * breaker for 5 s after 3 consecutive failures, and grpc-js shares one subchannel per target
 * across clients, with an exponential reconnect backoff. Both would make "poll until the member
 * answers" wait seconds after it already does. A fresh client with a local subchannel pool per
 * probe starts from a clean slate every time.
 *
 * @module
 */
import { createServer } from 'node:net';
import { Etcd3, type IStatusResponse } from 'etcd3';

/** Runs `fn` with a throwaway client for one endpoint, closing it afterwards. */
async function withProbeClient<T>(endpoint: string, fn: (client: Etcd3) => Promise<T>): Promise<T> {
  const client = new Etcd3({
    hosts: [endpoint],
    grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
  });
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/**
 * Resolves when `endpoint` answers a linearizable read (which needs a leader and a quorum),
 * rejects with the client's error otherwise. Bounded by `deadlineMs`.
 */
export function probeRead(endpoint: string, deadlineMs = 1_000): Promise<void> {
  return withProbeClient(endpoint, async (client) => {
    await client
      .get('etcd-coord-test/health-probe')
      .options({ deadline: Date.now() + deadlineMs })
      .exec();
  });
}

/** The member's own status (its id in `header.member_id`, the leader it believes in `leader`). */
export function probeStatus(endpoint: string, deadlineMs = 1_000): Promise<IStatusResponse> {
  return withProbeClient(endpoint, (client) =>
    client.maintenance.status({ deadline: Date.now() + deadlineMs }),
  );
}

/**
 * Returns `count` distinct free TCP ports on 127.0.0.1, found by binding port 0 and closing.
 * All listeners stay open until every port is known, so the ports are distinct; another process
 * may still grab one before etcd binds it, which the caller handles by retrying with new ports.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}
