/**
 * A microservice that registers itself and keeps a live view of its peers.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/microservice.ts [service] [port]
 *
 * It serves HTTP on `port` (random when omitted), registers `127.0.0.1:<port>` under `service`, prints
 * every peer that comes or goes, and deregisters on SIGINT/SIGTERM. With EXAMPLE_SMOKE=1 it calls one
 * peer (itself, if alone) through the round-robin picker and exits after a few seconds.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from '../src/index.js';

const service = process.argv[2] ?? 'hello';
const smoke = process.env.EXAMPLE_SMOKE === '1';

const server = createServer((_req, res) => res.end(`hello from ${process.pid}\n`));
await new Promise<void>((resolve) => server.listen(Number(process.argv[3] ?? 0), '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;

const coord = await connect({ namespace: 'examples/', ttlSeconds: 5 });
const stop = new AbortController();
try {
  const reg = await coord.registry(service).register({
    address: `127.0.0.1:${port}`,
    metadata: { pid: process.pid, startedAt: new Date().toISOString() },
  });
  reg.on('lost', (err) => console.warn(`registration lost (${err.message}); re-registering…`));
  reg.on('restored', (lease) => console.log(`registered again under lease ${lease.toString(16)}`));
  console.log(`${service}: registered ${reg.id} at 127.0.0.1:${port}`);

  const peers = await coord.discovery(service);
  peers.on('up', (i) => console.log(`peer up:   ${i.id} ${i.address}`));
  peers.on('down', (i) => console.log(`peer down: ${i.id} ${i.address}`));
  console.log(
    `peers now: ${peers
      .instances()
      .map((i) => i.id)
      .join(', ')}`,
  );

  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  if (smoke) {
    const target = peers.pick('round-robin');
    if (target) {
      const body = await fetch(`http://${target.address}/`).then((r) => r.text());
      console.log(`called ${target.id}: ${body.trim()}`);
    }
    setTimeout(() => stop.abort(), 2000);
  }
  await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
  await reg.deregister();
  console.log('deregistered');
} finally {
  await coord.close(); // also closes the discovery and any registration still open
  server.close();
}
