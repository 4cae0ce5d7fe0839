import type { Coordinator, ServiceInstance } from '../../src/index.js';

export const title = 'Service registry: register with keepalive, discover with a watched cache';

const show = (i: ServiceInstance) => `${i.id}@${i.address}`;

export async function run(coord: Coordinator, log: (line: string) => void): Promise<void> {
  const svc = await coord.discovery('payments');
  svc.on('up', (i) => log(`  discovery: up ${show(i)} ${JSON.stringify(i.metadata)}`));
  svc.on('change', (i) => log(`  discovery: change ${show(i)} ${JSON.stringify(i.metadata)}`));
  svc.on('down', (i) => log(`  discovery: down ${show(i)}`));
  const settle = async (rev: bigint) => {
    while (svc.revision < rev) await new Promise((r) => setTimeout(r, 10));
  };
  const head = async () => BigInt((await coord.client.get('x').exec()).header.revision);

  const registry = coord.registry('payments');
  const a = await registry.register({ id: 'pay-a', address: '10.0.0.1:8443', metadata: { zone: 'eu-1' } });
  const b = await registry.register({ id: 'pay-b', address: '10.0.0.2:8443', metadata: { zone: 'eu-2' } });
  await settle(await head());
  log(
    `registered 2 instances on one lease (${a.leaseId === b.leaseId ? 'shared' : 'separate'}): ${a.leaseId?.toString(16)}`,
  );
  log(`round-robin picks: ${[1, 2, 3, 4].map(() => svc.pick('round-robin')?.id).join(', ')}`);

  await a.update({ zone: 'eu-1', draining: true });
  await settle(await head());

  // An operator revokes the lease: both registrations notice, re-register under a new lease.
  const restored = Promise.all([a, b].map((r) => new Promise((res) => r.once('restored', res))));
  a.once('lost', () => log('registration: lost (next keepalive found the lease gone); re-registering…'));
  log(`an operator revokes lease ${a.leaseId?.toString(16)}`);
  await coord.client.leaseClient.leaseRevoke({ ID: a.leaseId!.toString() });
  await restored;
  await settle(await head());
  log(`restored under lease ${a.leaseId?.toString(16)}: ${svc.instances().map(show).join(', ')}`);

  await a.deregister();
  await b.deregister();
  await settle(await head());
  log(`deregistered: ${svc.size} instances left`);
  await svc.close();
}
