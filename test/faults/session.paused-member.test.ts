/**
 * A session survives the pause of any single member while a majority is healthy (break-core
 * core.session-failover). A paused member (SIGSTOP) keeps its connection READY, so its keepalive stream
 * just stops answering: the session drops it after two unanswered intervals, and the new stream must go
 * to another member, not back to the paused one (its stall marks the member suspect, as a failed request
 * does). TTL 3 s: loss is declared 2.25 s after the last acknowledged send, less than the 4 s pause.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const ROUNDS = 3;

/** Keepalive messages member `endpoint` has received (etcd's gRPC server metrics on its client URL). */
async function keepalivesReceived(endpoint: string): Promise<number> {
  const text = await (await fetch(`http://${endpoint}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('grpc_server_msg_received_total') && l.includes('method="LeaseKeepAlive"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('Session keepalive fails over from a paused member', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  it('pausing any single follower for longer than the TTL does not lose the session', async () => {
    const coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('session-paused'),
      ttlSeconds: 3,
      requestTimeoutMs: 1000,
    });
    const lost: string[] = [];
    try {
      const leader = await etcd.cluster.leader();
      const followers = etcd.cluster.members.filter((m) => m !== leader);
      for (let round = 0; round < ROUNDS; round++) {
        for (const other of followers) {
          // Pause the follower the keepalive stream is on, if any (the case that lost the session).
          const before = await Promise.all(followers.map((f) => keepalivesReceived(f.endpoint)));
          await sleep(1000);
          const after = await Promise.all(followers.map((f) => keepalivesReceived(f.endpoint)));
          const m = followers.find((_, i) => after[i]! > before[i]!) ?? other;
          const s = coord.session;
          m.pause();
          try {
            await sleep(4000);
          } finally {
            m.resume();
          }
          await sleep(1500);
          if (s.done) {
            lost.push(`round ${round}: pausing ${m.name} lost session ${s.leaseId.toString(16)}`);
            await coord.currentSession({ timeoutMs: 3000 });
          }
        }
      }
      expect(lost).toEqual([]);
    } finally {
      for (const m of etcd.cluster.members) if (m.paused) m.resume();
      await coord.close();
    }
  }, 120_000);
});
