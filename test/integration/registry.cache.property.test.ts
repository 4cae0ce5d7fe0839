import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connect, type ServiceDiscovery } from '../../src/index.js';
import { spawnNode, useSharedEtcd, waitFor, type ChildHandle } from '../support/shared.js';

type Step =
  | { op: 'reg'; id: string; addr: string; md: Record<string, number> }
  | { op: 'upd'; id: string; md: Record<string, number> }
  | { op: 'dereg'; id: string }
  | { op: 'sleep'; ms: number };

/** Turns raw random choices into a plan a worker can run: reg before upd/dereg, no double reg. */
function toPlan(worker: number, raw: Array<{ kind: 0 | 1 | 2 | 3; slot: number; n: number }>): Step[] {
  const live = new Set<string>();
  const plan: Step[] = [];
  for (const { kind, slot, n } of raw) {
    const id = `w${worker}-${slot}`;
    if (kind === 3) plan.push({ op: 'sleep', ms: n * 10 });
    else if (!live.has(id)) {
      live.add(id);
      plan.push({ op: 'reg', id, addr: `10.0.${worker}.${slot}:${1000 + n}`, md: { n } });
    } else if (kind === 1) plan.push({ op: 'upd', id, md: { n } });
    else {
      live.delete(id);
      plan.push({ op: 'dereg', id });
    }
  }
  return plan;
}

/** A comparable view of the cache, or of a direct read, decoded the same way. */
function view(
  entries: Array<{ id: string; address: string; metadata: unknown; leaseId: bigint; revision: bigint }>,
): string {
  return JSON.stringify(
    entries
      .map((e) => [e.id, e.address, e.metadata, e.leaseId.toString(), e.revision.toString()] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : 1)),
  );
}

describe('registry: discovery cache vs direct reads', () => {
  const etcd = useSharedEtcd('registry-prop');

  it('the cache equals a direct read of the prefix at every revision it reports, over random multi-process register/update/deregister/expire runs', async () => {
    const watcher = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              steps: fc.array(
                fc.record({
                  kind: fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3),
                  slot: fc.integer({ min: 0, max: 3 }),
                  n: fc.integer({ min: 0, max: 20 }),
                }),
                { minLength: 3, maxLength: 14 },
              ),
              end: fc.constantFrom<'close' | 'crash'>('close', 'crash'),
            }),
            { minLength: 2, maxLength: 2 },
          ),
          async (workers) => {
            const service = `p${run++}`;
            const svc: ServiceDiscovery = await watcher.discovery(service);
            const history: Array<{ revision: bigint; view: string }> = [];
            svc.on('update', (revision) => history.push({ revision, view: view(svc.instances()) }));
            // An independent plain etcd3 watcher: every revision that touched the prefix must show up in the cache.
            const touched = new Set<bigint>();
            const raw = await etcd.admin
              .watch()
              .prefix(`${etcd.prefix}services/${service}/`)
              .startRevision(String(svc.revision + 1n))
              .create();
            raw.on('data', (res) => res.events.forEach((e) => touched.add(BigInt(e.kv.mod_revision))));
            const children: ChildHandle[] = workers.map((w, i) =>
              spawnNode(
                'test/workers/registry-ops.ts',
                [
                  service,
                  JSON.stringify([
                    ...toPlan(i, w.steps),
                    { op: w.end === 'crash' ? 'crash' : 'sleep', ms: 0 },
                  ]),
                ],
                {
                  env: { ETCD_ENDPOINTS: etcd.endpoints.join(','), REGISTRY_NAMESPACE: etcd.prefix },
                },
              ),
            );
            try {
              const exits = await Promise.all(children.map((c) => c.exited));
              exits.forEach((exit, i) => {
                const expected = workers[i]!.end === 'crash' ? 'SIGKILL' : null;
                expect(exit.signal, children[i]!.stderr()).toBe(expected);
              });
              // Every worker is gone: crashed ones' leases expire after the TTL, and the cache must follow.
              await waitFor(() => svc.size === 0, { timeoutMs: 20_000, message: 'every instance gone' });
            } finally {
              await Promise.all(children.map((c) => c.stop()));
              await svc.close();
            }
            const lastSeen = history.at(-1)?.revision;
            await waitFor(() => lastSeen === undefined || touched.has(lastSeen), {
              message: 'raw watcher caught up',
            });
            await raw.cancel();
            const revisions = history.map((h) => h.revision);
            expect(revisions, 'one update per revision that touched the prefix').toEqual(
              [...touched].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
            );
            expect(history.length).toBeGreaterThan(0);
            expect([...revisions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(revisions);
            expect(new Set(revisions).size).toBe(revisions.length);
            for (const h of history) {
              const direct = [];
              for await (const kv of watcher.range(`services/${service}/`, { revision: h.revision })) {
                const v = JSON.parse(kv.value.toString()) as { Addr: string; Metadata: unknown };
                direct.push({
                  id: kv.key.toString().slice(`services/${service}/`.length),
                  address: v.Addr,
                  metadata: v.Metadata,
                  leaseId: kv.leaseId,
                  revision: kv.modRevision,
                });
              }
              expect(h.view, `at revision ${h.revision}`).toBe(view(direct));
            }
          },
        ),
        { numRuns: 3, endOnFailure: true },
      );
    } finally {
      await watcher.close();
    }
  });
});
