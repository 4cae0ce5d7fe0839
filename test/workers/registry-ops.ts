/**
 * A registry client process for multi-process tests. Runs a plan of operations given as JSON, one line
 * of output per step, then: `hold` waits for SIGTERM (closes cleanly), `crash` SIGKILLs itself (the lease
 * is left to expire), otherwise closes and exits 0.
 *
 * usage: registry-ops.ts <service> '<plan JSON>'   env: ETCD_ENDPOINTS, REGISTRY_NAMESPACE
 */
import { connect, type Registration } from '../../src/index.js';

type Step =
  | { op: 'reg'; id: string; addr: string; md?: Record<string, string | number> }
  | { op: 'upd'; id: string; md: Record<string, string | number> }
  | { op: 'dereg'; id: string }
  | { op: 'sleep'; ms: number }
  | { op: 'hold' }
  | { op: 'crash' };

const [service = 'svc', planJson = '[]'] = process.argv.slice(2);
const plan = JSON.parse(planJson) as Step[];
const coord = await connect({
  endpoints: (process.env.ETCD_ENDPOINTS ?? '127.0.0.1:2379').split(','),
  namespace: process.env.REGISTRY_NAMESPACE ?? '',
  ttlSeconds: 2,
});
const regs = new Map<string, Registration>();
console.log(`ready lease=${coord.session.leaseId.toString(16)}`);

for (const step of plan) {
  switch (step.op) {
    case 'reg': {
      const reg = await coord
        .registry(service)
        .register({ id: step.id, address: step.addr, metadata: step.md ?? {} });
      reg.on('lost', () => console.log(`lost ${step.id}`));
      reg.on('restored', () => console.log(`restored ${step.id}`));
      regs.set(step.id, reg);
      break;
    }
    case 'upd':
      await regs.get(step.id)?.update(step.md);
      break;
    case 'dereg':
      await regs.get(step.id)?.deregister();
      regs.delete(step.id);
      break;
    case 'sleep':
      await new Promise((r) => setTimeout(r, step.ms));
      break;
    case 'hold':
      console.log('holding');
      await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
      break;
    case 'crash':
      console.log('crashing');
      process.kill(process.pid, 'SIGKILL');
      await new Promise(() => undefined);
  }
  console.log(`ok ${step.op} ${'id' in step ? step.id : ''}`.trim());
}
await coord.close();
console.log('closed');
