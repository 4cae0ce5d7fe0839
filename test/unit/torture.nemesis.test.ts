import { describe, expect, it } from 'vitest';
import type { EtcdCluster } from '../../test/support/etcd.js';
import { Nemesis, type FaultKind, type NemesisWorker } from '../../torture/nemesis.js';

/** A cluster and workers that do nothing: only the schedule is under test. */
function fakes(): { cluster: EtcdCluster; workers: NemesisWorker[] } {
  const cluster = {
    kind: 'binary',
    members: [],
    endpoints: [],
    compact: async () => 1n,
    restartEmpty: async () => undefined,
    waitHealthy: async () => undefined,
  } as unknown as EtcdCluster;
  const workers = ['w1', 'w2', 'w3'].map((name) => ({
    name,
    pause: () => undefined,
    resume: () => undefined,
    proxies: [],
  }));
  return { cluster, workers };
}

async function schedule(seed: number, kinds: FaultKind[], weights = {}): Promise<string[]> {
  const { cluster, workers } = fakes();
  // Faults shorter than the smallest gap never overlap, so no kind is deferred by a busy target.
  const n = new Nemesis(cluster, workers, { seed, kinds, weights, gapMs: [8, 10], durationMs: [1, 3] });
  await n.run(400);
  await n.heal();
  // Kinds, not targets: under load a fault can outlast the gap, and a busy worker changes the pick.
  return n.faults.map((f) => f.kind);
}

describe('torture nemesis schedule', () => {
  const kinds: FaultKind[] = ['pause-worker', 'blackhole', 'drop-replies', 'reset', 'compact'];

  it('replays the same kinds from the same seed, and others from another seed', async () => {
    const a = await schedule(5, kinds);
    const b = await schedule(5, kinds);
    const c = await schedule(6, kinds);
    const common = Math.min(a.length, b.length) - 1; // the run may end one fault earlier or later
    expect(common).toBeGreaterThan(10);
    expect(a.slice(0, common)).toEqual(b.slice(0, common));
    expect(c.slice(0, common)).not.toEqual(a.slice(0, common));
  });

  it('draws every kind once per bag, and a rare kind only in some bags', async () => {
    const faults = await schedule(9, ['compact', 'wipe-cluster'], { 'wipe-cluster': 0.25 });
    const wipes = faults.filter((f) => f.startsWith('wipe-cluster')).length;
    expect(faults.length).toBeGreaterThan(20);
    expect(wipes).toBeGreaterThan(0);
    expect(wipes).toBeLessThan(faults.length / 2);
  });
});
