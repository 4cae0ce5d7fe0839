import type { Coordinator } from '../../src/index.js';

export const title = 'Session: one lease, kept alive, loss declared before the server deletes keys';

export async function run(coord: Coordinator, log: (line: string) => void): Promise<void> {
  const session = await coord.newSession({ ttlSeconds: 2 });
  log(`granted lease ${session.leaseId.toString(16)} (TTL ${session.ttlSeconds} s)`);
  let acks = 0;
  session.on('keepalive', () => acks++);
  await new Promise((r) => setTimeout(r, 1500));
  log(`${acks} keepalives acknowledged in 1.5 s; the lease is alive: done=${session.done}`);
  const lost = new Promise<string>((resolve) => session.once('lost', (err) => resolve(err.message)));
  const t = performance.now();
  await coord.client.leaseClient.leaseRevoke({ ID: session.leaseId.toString() });
  log(`revoked the lease from outside → lost after ${Math.round(performance.now() - t)} ms: "${await lost}"`);
  log(`session.signal.aborted = ${session.signal.aborted}`);
  await session.close();
}
